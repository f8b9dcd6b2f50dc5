//! Sprig's type inspection: `kindOf`, `kindIs`, `typeOf`, `typeIs`, `typeIsLike` and
//! `deepEqual`, with Go's type and kind names.

use super::args::{self, exact};
use crate::value::Value;

type R = Result<Value, String>;

/// Go's `reflect.DeepEqual` over template values: types must match (`1` is not `1.0`), lists
/// and maps compare element by element, objects by identity.
pub(super) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (ex, ey) = (x.entries(), y.entries());
            ex.len() == ey.len()
                && ex
                    .iter()
                    .zip(ey.iter())
                    .all(|((kx, vx), (ky, vy))| kx == ky && deep_equal(vx, vy))
        }
        (Value::Object(x), Value::Object(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => false,
    }
}

pub(super) fn kind_of(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::str(v.kind_name()))
}

pub(super) fn kind_is(name: &str, args: &[Value]) -> R {
    let [target, v] = exact(name, args)?;
    Ok(Value::Bool(args::string(target)? == v.kind_name()))
}

pub(super) fn type_of(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::str(v.type_name()))
}

pub(super) fn type_is(name: &str, args: &[Value]) -> R {
    let [target, v] = exact(name, args)?;
    Ok(Value::Bool(args::string(target)? == v.type_name()))
}

/// `typeIsLike T V`: V's type is T or a pointer to T.
pub(super) fn type_is_like(name: &str, args: &[Value]) -> R {
    let [target, v] = exact(name, args)?;
    let target = args::string(target)?;
    let t = v.type_name();
    Ok(Value::Bool(
        t == target || t.strip_prefix('*') == Some(target),
    ))
}

pub(super) fn deep_equal_fn(name: &str, args: &[Value]) -> R {
    let [a, b] = exact(name, args)?;
    Ok(Value::Bool(deep_equal(a, b)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::{Map, Value};

    /// Expectations checked against Helm.
    #[test]
    fn reflection_matches_helm() {
        let i = Value::Int;
        let f = Value::Float;
        let b = Value::Bool;
        let nil = Value::Nil;
        let m = Map::new();
        m.insert("a", nil.clone());
        check(&[
            ("kindOf", vec![i(1)], Ok(s("int"))),
            ("kindOf", vec![f(1.5)], Ok(s("float64"))),
            ("kindOf", vec![l(vec![])], Ok(s("slice"))),
            ("kindOf", vec![Value::Map(Map::new())], Ok(s("map"))),
            ("kindOf", vec![nil.clone()], Ok(s("invalid"))),
            ("kindIs", vec![s("int"), i(1)], Ok(b(true))),
            ("kindIs", vec![s("invalid"), nil.clone()], Ok(b(true))),
            ("typeOf", vec![f(1.0)], Ok(s("float64"))),
            ("typeOf", vec![nil.clone()], Ok(s("<nil>"))),
            ("typeOf", vec![l(vec![])], Ok(s("[]interface {}"))),
            ("typeIs", vec![s("float64"), f(3.0)], Ok(b(true))),
            ("typeIsLike", vec![s("float64"), f(3.0)], Ok(b(true))),
            (
                "deepEqual",
                vec![l(vec![i(1), i(2)]), l(vec![i(1), i(2)])],
                Ok(b(true)),
            ),
            ("deepEqual", vec![i(1), f(1.0)], Ok(b(false))),
            // Sprig's arithmetic gives int64, which Go tells from an int literal.
            ("typeOf", vec![Value::Int64(3)], Ok(s("int64"))),
            ("kindOf", vec![Value::Int64(3)], Ok(s("int64"))),
            ("kindIs", vec![s("int"), Value::Int64(3)], Ok(b(false))),
            ("deepEqual", vec![Value::Int64(3), i(3)], Ok(b(false))),
            (
                "deepEqual",
                vec![Value::Int64(3), Value::Int64(3)],
                Ok(b(true)),
            ),
            ("deepEqual", vec![nil.clone(), nil.clone()], Ok(b(true))),
            (
                "deepEqual",
                vec![Value::Map(m.clone()), Value::Map(m.shallow_copy())],
                Ok(b(true)),
            ),
        ]);
    }
}
