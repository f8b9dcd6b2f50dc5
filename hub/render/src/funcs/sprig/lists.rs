//! Sprig's list functions. A list is Go's `[]interface{}`; Sprig checks the operand's kind and
//! reports `Cannot X on type KIND` for anything else, and a nil operand fails the way Go's
//! reflection does on nil.

use super::args::{self, at_least, exact};
use super::defaults::is_empty;
use super::reflect::deep_equal;
use crate::value::Value;

type R = Result<Value, String>;

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The list operand of a Sprig list function, or Sprig's error for any other kind.
fn list_arg<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], String> {
    match v {
        Value::List(items) => Ok(items),
        Value::Nil => Err(NIL_DEREF.to_owned()),
        other => Err(format!("Cannot {what} on type {}", args::kind(other))),
    }
}

fn list_of(items: impl IntoIterator<Item = Value>) -> Value {
    Value::from(items.into_iter().collect::<Vec<_>>())
}

/// `list A B ...` (and `tuple`).
pub(super) fn list(_name: &str, args: &[Value]) -> R {
    Ok(list_of(args.iter().cloned()))
}

pub(super) fn first(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    Ok(list_arg(l, "find first")?
        .first()
        .cloned()
        .unwrap_or_default())
}

pub(super) fn last(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    Ok(list_arg(l, "find last")?
        .last()
        .cloned()
        .unwrap_or_default())
}

pub(super) fn rest(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    let items = list_arg(l, "find rest")?;
    Ok(list_of(items.iter().skip(1).cloned()))
}

pub(super) fn initial(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    let items = list_arg(l, "find initial")?;
    Ok(list_of(
        items.iter().take(items.len().saturating_sub(1)).cloned(),
    ))
}

/// `append LIST V` (and `push`): a new list; the operand is not changed.
pub(super) fn push(name: &str, args: &[Value]) -> R {
    let [l, v] = exact(name, args)?;
    let items = list_arg(l, "push")?;
    Ok(list_of(items.iter().chain(std::iter::once(v)).cloned()))
}

pub(super) fn prepend(name: &str, args: &[Value]) -> R {
    let [l, v] = exact(name, args)?;
    let items = list_arg(l, "prepend")?;
    Ok(list_of(std::iter::once(v).chain(items).cloned()))
}

/// `concat LIST...`: the lists joined.
pub(super) fn concat(_name: &str, args: &[Value]) -> R {
    let mut out = Vec::new();
    for v in args {
        match v {
            Value::List(items) => out.extend(items.iter().cloned()),
            Value::Nil => return Err(NIL_DEREF.to_owned()),
            other => {
                return Err(format!("Cannot concat type {} as list", args::kind(other)));
            }
        }
    }
    Ok(Value::from(out))
}

pub(super) fn reverse(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    Ok(list_of(list_arg(l, "find reverse")?.iter().rev().cloned()))
}

/// `uniq LIST`: first occurrences, compared as Go's `reflect.DeepEqual` does (so `1` and `1.0`
/// differ).
pub(super) fn uniq(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    let mut out: Vec<Value> = Vec::new();
    for item in list_arg(l, "find uniq")? {
        if !out.iter().any(|seen| deep_equal(seen, item)) {
            out.push(item.clone());
        }
    }
    Ok(Value::from(out))
}

/// `without LIST V...`.
pub(super) fn without(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    let (l, omit) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let items = list_arg(l, "find without")?;
    Ok(list_of(
        items
            .iter()
            .filter(|item| !omit.iter().any(|o| deep_equal(o, item)))
            .cloned(),
    ))
}

/// `has V LIST`.
pub(super) fn has(name: &str, args: &[Value]) -> R {
    let [needle, haystack] = exact(name, args)?;
    if haystack.is_nil() {
        return Ok(Value::Bool(false));
    }
    let items = list_arg(haystack, "find has")?;
    Ok(Value::Bool(
        items.iter().any(|item| deep_equal(needle, item)),
    ))
}

/// `compact LIST`: the non-empty elements.
pub(super) fn compact(name: &str, args: &[Value]) -> R {
    let [l] = exact(name, args)?;
    let items = list_arg(l, "compact")?;
    Ok(list_of(items.iter().filter(|v| !is_empty(v)).cloned()))
}

/// `slice LIST [START [END]]`, indexes converted with `cast.ToInt`.
pub(super) fn slice(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    let (l, indices) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let items = match l {
        Value::List(items) => items,
        Value::Nil => return Err(NIL_DEREF.to_owned()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                args::kind(other)
            ));
        }
    };
    if items.is_empty() {
        return Ok(Value::Nil);
    }
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let start = indices.first().map_or(0, args::to_int64);
    let end = indices.get(1).map_or(len, args::to_int64);
    let range = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(s, e)| items.get(s..e));
    range
        .map(|r| list_of(r.iter().cloned()))
        .ok_or_else(|| "reflect.Value.Slice: slice index out of bounds".to_owned())
}

/// `chunk SIZE LIST`: lists of SIZE elements (the last may be shorter).
pub(super) fn chunk(name: &str, args: &[Value]) -> R {
    let [size, l] = exact(name, args)?;
    let size = args::int(size)?;
    let items = match l {
        Value::List(items) => items,
        Value::Nil => return Err(NIL_DEREF.to_owned()),
        other => return Err(format!("Cannot chunk type {}", args::kind(other))),
    };
    let bad_len = || "runtime error: makeslice: len out of range".to_owned();
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    // Sprig computes the chunk count in float64, so a zero or negative size misbehaves as
    // it does in Go.
    #[allow(clippy::cast_precision_loss)]
    let count_f = ((len - 1) as f64 / size as f64).floor() + 1.0;
    if !count_f.is_finite() || count_f < 0.0 {
        return Err(bad_len());
    }
    let count = args::float_to_int64(count_f);
    let mut out = Vec::new();
    for i in 0..count {
        let mut clen = size;
        if i == count - 1 {
            #[allow(clippy::cast_precision_loss)]
            let rem = (len as f64 % size as f64).floor();
            clen = args::float_to_int64(rem);
            if clen == 0 {
                clen = size;
            }
        }
        if clen < 0 {
            return Err(bad_len());
        }
        let mut part = Vec::new();
        for j in 0..clen {
            let ix = usize::try_from(i * size + j).ok();
            let item = ix.and_then(|ix| items.get(ix)).ok_or_else(|| {
                format!(
                    "runtime error: index out of range [{}] with length {len}",
                    i * size + j
                )
            })?;
            part.push(item.clone());
        }
        out.push(Value::from(part));
    }
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::{Map, Value};

    /// Expectations checked against Helm.
    #[test]
    fn lists_match_helm() {
        let i = Value::Int;
        let f = Value::Float;
        let nil = Value::Nil;
        let abc = || l(vec![i(1), i(2), i(3)]);
        check(&[
            (
                "list",
                vec![i(1), s("a"), nil.clone()],
                Ok(l(vec![i(1), s("a"), nil.clone()])),
            ),
            ("first", vec![abc()], Ok(i(1))),
            ("first", vec![l(vec![])], Ok(nil.clone())),
            (
                "first",
                vec![s("abc")],
                Err("Cannot find first on type string"),
            ),
            (
                "mustFirst",
                vec![s("abc")],
                Err("Cannot find first on type string"),
            ),
            (
                "first",
                vec![nil.clone()],
                Err("runtime error: invalid memory address or nil pointer dereference"),
            ),
            ("rest", vec![abc()], Ok(l(vec![i(2), i(3)]))),
            ("rest", vec![l(vec![])], Ok(l(vec![]))),
            ("last", vec![abc()], Ok(i(3))),
            (
                "last",
                vec![s("ab")],
                Err("Cannot find last on type string"),
            ),
            ("initial", vec![abc()], Ok(l(vec![i(1), i(2)]))),
            ("append", vec![l(vec![i(1)]), i(2)], Ok(l(vec![i(1), i(2)]))),
            (
                "append",
                vec![s("ab"), s("c")],
                Err("Cannot push on type string"),
            ),
            (
                "prepend",
                vec![l(vec![i(1)]), i(0)],
                Ok(l(vec![i(0), i(1)])),
            ),
            (
                "concat",
                vec![l(vec![i(1)]), l(vec![i(2), i(3)])],
                Ok(abc()),
            ),
            ("concat", vec![], Ok(l(vec![]))),
            (
                "concat",
                vec![l(vec![i(1)]), s("x")],
                Err("Cannot concat type string as list"),
            ),
            ("reverse", vec![abc()], Ok(l(vec![i(3), i(2), i(1)]))),
            (
                "reverse",
                vec![s("ab")],
                Err("Cannot find reverse on type string"),
            ),
            (
                "uniq",
                vec![l(vec![i(1), i(1), s("a"), s("a"), f(3.0), i(3)])],
                Ok(l(vec![i(1), s("a"), f(3.0), i(3)])),
            ),
            (
                "without",
                vec![l(vec![i(1), i(2), i(3), i(2)]), i(2), i(3)],
                Ok(l(vec![i(1)])),
            ),
            (
                "without",
                vec![l(vec![i(1), nil.clone()]), nil.clone()],
                Ok(l(vec![i(1)])),
            ),
            (
                "without",
                vec![s("abc"), i(1)],
                Err("Cannot find without on type string"),
            ),
            (
                "has",
                vec![i(2), l(vec![i(1), i(2)])],
                Ok(Value::Bool(true)),
            ),
            ("has", vec![f(3.0), l(vec![i(3)])], Ok(Value::Bool(false))),
            ("has", vec![i(1), nil.clone()], Ok(Value::Bool(false))),
            (
                "has",
                vec![nil.clone(), l(vec![nil.clone()])],
                Ok(Value::Bool(true)),
            ),
            (
                "has",
                vec![i(1), Value::Map(Map::new())],
                Err("Cannot find has on type map"),
            ),
            (
                "compact",
                vec![l(vec![
                    i(0),
                    i(1),
                    s(""),
                    nil.clone(),
                    s("a"),
                    Value::Bool(false),
                    l(vec![]),
                    Value::Map(Map::new()),
                ])],
                Ok(l(vec![i(1), s("a")])),
            ),
            (
                "compact",
                vec![s("abc")],
                Err("Cannot compact on type string"),
            ),
            ("slice", vec![abc(), i(1)], Ok(l(vec![i(2), i(3)]))),
            ("slice", vec![abc(), i(0), i(2)], Ok(l(vec![i(1), i(2)]))),
            ("slice", vec![abc(), s("1")], Ok(l(vec![i(2), i(3)]))),
            ("slice", vec![l(vec![]), i(0), i(5)], Ok(nil.clone())),
            (
                "slice",
                vec![abc(), i(2), i(1)],
                Err("reflect.Value.Slice: slice index out of bounds"),
            ),
            (
                "slice",
                vec![abc(), i(1), i(5)],
                Err("reflect.Value.Slice: slice index out of bounds"),
            ),
            (
                "slice",
                vec![s("abc"), i(1)],
                Err("list should be type of slice or array but string"),
            ),
            (
                "chunk",
                vec![i(2), l(vec![i(1), i(2), i(3), i(4), i(5)])],
                Ok(l(vec![
                    l(vec![i(1), i(2)]),
                    l(vec![i(3), i(4)]),
                    l(vec![i(5)]),
                ])),
            ),
            ("chunk", vec![i(3), l(vec![])], Ok(l(vec![]))),
            ("chunk", vec![i(-1), l(vec![i(1), i(2)])], Ok(l(vec![]))),
            (
                "chunk",
                vec![i(0), l(vec![i(1), i(2)])],
                Err("runtime error: makeslice: len out of range"),
            ),
            (
                "chunk",
                vec![i(2), s("abc")],
                Err("Cannot chunk type string"),
            ),
        ]);
    }
}
