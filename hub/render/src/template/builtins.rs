//! Go's builtin template functions (`and`, `or` and `call` live in the executor, which
//! needs the unevaluated arguments): comparisons with Go's type rules, `len`, `index`,
//! `slice`, the escapers and the printers.

use std::fmt::Write as _;

use super::exec::EVal;
use crate::funcs::fmt::{sprint, sprintf, sprintln};
use crate::value::Value;

/// Go's `basicKind`, on a value whose interface has been looked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    /// Lists, maps and objects: not basic.
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::List(_) | Value::Map(_) | Value::Object(_) => Kind::Other,
    }
}

const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn incompatible(a: &Value, b: &Value) -> String {
    format!(
        "incompatible types for comparison: {} and {}",
        a.type_name(),
        b.type_name()
    )
}

/// `eq arg1 arg2...`: whether `arg1` equals any of the others.
pub(crate) fn eq(arg1: &EVal, rest: &[EVal]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    let a1 = &arg1.v;
    let k1 = kind(a1);
    for arg in rest {
        let a = &arg.v;
        let k2 = kind(a);
        let truth = if k1 != k2 {
            if !a1.is_nil() && !a.is_nil() {
                return Err(incompatible(a1, a));
            }
            false
        } else {
            match (a1, a) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                _ if k1 == Kind::Int => a1.as_int() == a.as_int(),
                _ => compare_composite(a1, a)?,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `%s` of a value (`[%!s(float64=1)]` for a list of numbers).
fn fmt_s(v: &Value) -> String {
    sprintf("%s", std::slice::from_ref(v))
}

/// `eq` on two non-basic values: Go compares pointers and refuses slices and maps.
fn compare_composite(a1: &Value, a: &Value) -> Result<bool, String> {
    if a1.type_name() != a.type_name() {
        return Err(format!(
            "non-comparable types {}: {}, {}: {}",
            fmt_s(a1),
            a1.type_name(),
            a.type_name(),
            a.go_string()
        ));
    }
    match (a1, a) {
        (Value::Object(x), Value::Object(y)) => Ok(std::rc::Rc::ptr_eq(x, y)),
        _ => Err(format!(
            "non-comparable type {}: {}",
            fmt_s(a),
            a.type_name()
        )),
    }
}

/// `ne a b`.
pub(crate) fn ne(a: &EVal, b: &EVal) -> Result<bool, String> {
    eq(a, std::slice::from_ref(b)).map(|e| !e)
}

/// `lt a b`.
pub(crate) fn lt(a: &EVal, b: &EVal) -> Result<bool, String> {
    let (a, b) = (&a.v, &b.v);
    let k1 = kind(a);
    if matches!(k1, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.to_owned());
    }
    let k2 = kind(b);
    if matches!(k2, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.to_owned());
    }
    if k1 != k2 {
        return Err(incompatible(a, b));
    }
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ if k1 == Kind::Int => Ok(a.as_int() < b.as_int()),
        _ => Err(BAD_COMPARISON_TYPE.to_owned()),
    }
}

/// `le a b`: `lt` or `eq`.
pub(crate) fn le(a: &EVal, b: &EVal) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// `gt a b`.
pub(crate) fn gt(a: &EVal, b: &EVal) -> Result<bool, String> {
    le(a, b).map(|x| !x)
}

/// `ge a b`.
pub(crate) fn ge(a: &EVal, b: &EVal) -> Result<bool, String> {
    lt(a, b).map(|x| !x)
}

/// The plain value of an object, for the builtins that look inside containers.
fn plain(v: &Value) -> Value {
    match v {
        Value::Object(o) => o.plain(),
        other => other.clone(),
    }
}

/// `len x`.
pub(crate) fn len(item: &EVal) -> Result<Value, String> {
    let n = match &item.v {
        Value::Nil if item.iface => return Err("len of nil pointer".to_owned()),
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".to_owned()),
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Object(o) => match o.plain() {
            Value::Str(s) => s.len(),
            Value::List(l) => l.len(),
            Value::Map(m) => m.len(),
            _ => return Err(format!("len of type {}", o.type_name())),
        },
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Go's `indexArg`: an index into something of length `cap`.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".to_owned()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    match usize::try_from(x) {
        Ok(u) if u <= cap => Ok(u),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// `index item i j...`.
pub(crate) fn index(item: &EVal, indexes: &[EVal]) -> Result<EVal, String> {
    if item.v.is_nil() {
        return Err("index of untyped nil".to_owned());
    }
    let mut cur = item.clone();
    for ix in indexes {
        let ix = &ix.v;
        cur = match plain(&cur.v) {
            Value::Nil => return Err("index of nil pointer".to_owned()),
            Value::List(l) => {
                let x = index_arg(ix, l.len())?;
                EVal::iface(
                    l.get(x)
                        .cloned()
                        .ok_or("reflect: slice index out of range")?,
                )
            }
            Value::Str(s) => {
                let x = index_arg(ix, s.len())?;
                let b = s
                    .as_bytes()
                    .get(x)
                    .ok_or("reflect: string index out of range")?;
                EVal::direct(Value::Int(i64::from(*b)))
            }
            Value::Map(m) => match ix {
                Value::Str(k) => EVal::iface(m.get(k).unwrap_or(Value::Nil)),
                Value::Nil => return Err("value is nil; should be of type string".to_owned()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            other => {
                return Err(format!(
                    "can't index item of type {}",
                    cur_type(&cur, &other)
                ));
            }
        };
    }
    Ok(cur)
}

fn cur_type<'a>(cur: &'a EVal, plain: &'a Value) -> &'a str {
    match &cur.v {
        Value::Object(o) => o.type_name(),
        _ => plain.type_name(),
    }
}

/// Go's `slice item i j k` (Helm's templates get Sprig's `slice` instead, when the library
/// has it).
pub(crate) fn slice(item: &EVal, indexes: &[EVal]) -> Result<EVal, String> {
    let v = plain(&item.v);
    if v.is_nil() {
        return Err("slice of untyped nil".to_owned());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match &v {
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".to_owned());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, ix) in indexes.iter().enumerate() {
        let x = index_arg(&ix.v, len)?;
        if let Some(slot) = idx.get_mut(i) {
            *slot = x;
        }
    }
    let [i, j, k] = idx;
    if i > j {
        return Err(format!("invalid slice index: {i} > {j}"));
    }
    if indexes.len() == 3 && j > k {
        return Err(format!("invalid slice index: {j} > {k}"));
    }
    Ok(EVal::direct(match &v {
        Value::Str(s) => Value::str(s.get(i..j).ok_or("slice bounds out of range")?),
        Value::List(l) => Value::from(l.get(i..j).map(<[Value]>::to_vec).unwrap_or_default()),
        _ => Value::Nil,
    }))
}

/// Go's `evalArgs` for the escapers: a lone string as is, else `fmt.Sprint` of the
/// arguments with nil printed as `<no value>`.
fn eval_args(args: &[EVal]) -> String {
    if let [
        EVal {
            v: Value::Str(s), ..
        },
    ] = args
    {
        return s.to_string();
    }
    let vals: Vec<Value> = args
        .iter()
        .map(|a| {
            if a.v.is_nil() {
                Value::str("<no value>")
            } else {
                a.v.clone()
            }
        })
        .collect();
    sprint(&vals)
}

/// `html`: Go's `HTMLEscapeString` of the arguments.
pub(crate) fn html(args: &[EVal]) -> String {
    let s = eval_args(args);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `js`: Go's `JSEscapeString` of the arguments.
pub(crate) fn js(args: &[EVal]) -> String {
    let s = eval_args(args);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02X}", c as u32);
            }
            c if (c as u32) < 0x80 || super::quote::is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// `urlquery`: Go's `url.QueryEscape` of the arguments.
pub(crate) fn urlquery(args: &[EVal]) -> String {
    let s = eval_args(args);
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `print`.
pub(crate) fn print(args: &[EVal]) -> String {
    sprint(&values(args))
}

/// `println`.
pub(crate) fn println(args: &[EVal]) -> String {
    sprintln(&values(args))
}

/// `printf format args...`.
pub(crate) fn printf(format: &str, args: &[EVal]) -> String {
    sprintf(format, &values(args))
}

fn values(args: &[EVal]) -> Vec<Value> {
    args.iter().map(|a| a.v.clone()).collect()
}
