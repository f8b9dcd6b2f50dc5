//! Sprig's defaults and logic: `default`, `empty`, `coalesce`, `all`, `any`, `ternary`, all
//! built on Sprig's notion of an empty value.

use super::args::{self, at_least, exact};
use crate::value::Value;

type R = Result<Value, String>;

/// Sprig's `empty`: nil, false, zero, and empty strings, lists and maps. Objects never are.
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Float(x) => *x == 0.0,
        Value::Str(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Object(_) => false,
    }
}

/// `default DEFAULT GIVEN`: GIVEN unless it is empty (or absent).
pub(super) fn default(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    match (args.first(), args.get(1)) {
        (_, Some(given)) if !is_empty(given) => Ok(given.clone()),
        (Some(d), _) => Ok(d.clone()),
        (None, _) => Ok(Value::Nil),
    }
}

pub(super) fn empty(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Bool(is_empty(v)))
}

/// `coalesce A B ...`: the first non-empty argument, or nil.
pub(super) fn coalesce(_name: &str, args: &[Value]) -> R {
    Ok(args
        .iter()
        .find(|v| !is_empty(v))
        .cloned()
        .unwrap_or_default())
}

pub(super) fn all(_name: &str, args: &[Value]) -> R {
    Ok(Value::Bool(args.iter().all(|v| !is_empty(v))))
}

pub(super) fn any(_name: &str, args: &[Value]) -> R {
    Ok(Value::Bool(args.iter().any(|v| !is_empty(v))))
}

/// `ternary IF_TRUE IF_FALSE CONDITION`.
pub(super) fn ternary(name: &str, args: &[Value]) -> R {
    let [t, f, cond] = exact(name, args)?;
    Ok(if args::boolean(cond)? {
        t.clone()
    } else {
        f.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::{Map, Value};

    /// Expectations checked against Helm.
    #[test]
    fn defaults_match_helm() {
        let i = Value::Int;
        let f = Value::Float;
        let b = Value::Bool;
        let nil = Value::Nil;
        let empty_map = || Value::Map(Map::new());
        check(&[
            ("default", vec![s("d"), s("")], Ok(s("d"))),
            ("default", vec![s("d"), i(0)], Ok(s("d"))),
            ("default", vec![s("d"), f(3.0)], Ok(f(3.0))),
            ("default", vec![s("d"), b(false)], Ok(s("d"))),
            ("default", vec![s("d"), l(vec![])], Ok(s("d"))),
            ("default", vec![s("d"), empty_map()], Ok(s("d"))),
            ("default", vec![s("d"), nil.clone()], Ok(s("d"))),
            ("default", vec![s("d")], Ok(s("d"))),
            ("default", vec![s("d"), b(true)], Ok(b(true))),
            ("default", vec![s("d"), f(0.0)], Ok(s("d"))),
            ("default", vec![s("d"), s("x"), s("y")], Ok(s("x"))),
            (
                "default",
                vec![],
                Err("wrong number of args for default: want at least 1 got 0"),
            ),
            ("empty", vec![i(0)], Ok(b(true))),
            ("empty", vec![nil.clone()], Ok(b(true))),
            ("empty", vec![l(vec![i(1)])], Ok(b(false))),
            (
                "coalesce",
                vec![i(0), s(""), nil.clone(), s("x"), i(1)],
                Ok(s("x")),
            ),
            ("coalesce", vec![], Ok(nil.clone())),
            ("coalesce", vec![i(0)], Ok(nil.clone())),
            ("all", vec![i(1), s("a")], Ok(b(true))),
            ("all", vec![i(1), s("")], Ok(b(false))),
            ("all", vec![], Ok(b(true))),
            ("any", vec![i(0), s("")], Ok(b(false))),
            ("any", vec![i(0), s("a")], Ok(b(true))),
            ("any", vec![], Ok(b(false))),
            ("ternary", vec![s("y"), s("n"), b(true)], Ok(s("y"))),
            ("ternary", vec![s("y"), s("n"), b(false)], Ok(s("n"))),
            (
                "ternary",
                vec![i(1), i(2), nil.clone()],
                Err("wrong type for value; expected bool; got interface {}"),
            ),
        ]);
    }
}
