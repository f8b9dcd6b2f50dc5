//! Sprig's string functions. Go strings are bytes, and several of Sprig's helpers (`substr`,
//! `trunc`, `abbrev`, `wrap`, `initials`, `nospace`) count and cut bytes, not characters; cuts
//! inside a multi-byte character come out as U+FFFD, as Helm's invalid UTF-8 reads back.

use super::args::{self, exact, strval};
use super::case;
use crate::funcs::fmt::quote as go_quote;
use crate::value::{Map, Value};

type R = Result<Value, String>;

/// A byte range of `s` as a string, with U+FFFD for a cut multi-byte character.
fn bytes_str(b: &[u8]) -> Value {
    Value::str(String::from_utf8_lossy(b))
}

/// Go's message for an out-of-range slice expression.
fn slice_error(detail: String) -> String {
    format!("runtime error: slice bounds out of range {detail}")
}

/// One `string` argument mapped to a string.
fn map_str(name: &str, args: &[Value], f: impl FnOnce(&str) -> String) -> R {
    let [s] = exact(name, args)?;
    Ok(Value::str(f(args::string(s)?)))
}

pub(super) fn trim(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| s.trim().to_owned())
}

pub(super) fn upper(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| s.chars().map(case::to_upper).collect())
}

pub(super) fn lower(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| s.chars().map(case::to_lower).collect())
}

pub(super) fn title(name: &str, args: &[Value]) -> R {
    map_str(name, args, case::title)
}

pub(super) fn untitle(name: &str, args: &[Value]) -> R {
    map_str(name, args, case::untitle)
}

pub(super) fn swapcase(name: &str, args: &[Value]) -> R {
    map_str(name, args, case::swapcase)
}

pub(super) fn snakecase(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| case::lower_words(s, '_'))
}

pub(super) fn kebabcase(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| case::lower_words(s, '-'))
}

pub(super) fn camelcase(name: &str, args: &[Value]) -> R {
    map_str(name, args, case::camelcase)
}

/// goutils' `DeleteWhiteSpace`, which reads the string byte by byte: when there is any
/// whitespace, every remaining byte is re-encoded as a Latin-1 character.
pub(super) fn nospace(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| {
        let is_space = |b: u8| case::is_space(char::from(b));
        if !s.bytes().any(is_space) {
            return s.to_owned();
        }
        s.bytes()
            .filter(|&b| !is_space(b))
            .map(char::from)
            .collect()
    })
}

/// goutils' `Initials`: the first byte of every whitespace-separated word.
pub(super) fn initials(name: &str, args: &[Value]) -> R {
    map_str(name, args, |s| {
        let mut gap = true;
        let mut out = String::new();
        for b in s.bytes() {
            let c = char::from(b);
            if case::is_space(c) {
                gap = true;
            } else if gap {
                out.push(c);
                gap = false;
            }
        }
        out
    })
}

/// Two `string` arguments `(a, b)` mapped to a value.
fn two_str(name: &str, args: &[Value], f: impl FnOnce(&str, &str) -> Value) -> R {
    let [a, b] = exact(name, args)?;
    Ok(f(args::string(a)?, args::string(b)?))
}

/// `trimAll CUTSET S` (and the older `trimall`): Go's `strings.Trim`.
pub(super) fn trim_all(name: &str, args: &[Value]) -> R {
    two_str(name, args, |cutset, s| {
        Value::str(s.trim_matches(|c| cutset.contains(c)))
    })
}

pub(super) fn trim_prefix(name: &str, args: &[Value]) -> R {
    two_str(name, args, |p, s| {
        Value::str(s.strip_prefix(p).unwrap_or(s))
    })
}

pub(super) fn trim_suffix(name: &str, args: &[Value]) -> R {
    two_str(name, args, |p, s| {
        Value::str(s.strip_suffix(p).unwrap_or(s))
    })
}

pub(super) fn contains(name: &str, args: &[Value]) -> R {
    two_str(name, args, |sub, s| Value::Bool(s.contains(sub)))
}

pub(super) fn has_prefix(name: &str, args: &[Value]) -> R {
    two_str(name, args, |p, s| Value::Bool(s.starts_with(p)))
}

pub(super) fn has_suffix(name: &str, args: &[Value]) -> R {
    two_str(name, args, |p, s| Value::Bool(s.ends_with(p)))
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn go_split<'a>(s: &'a str, sep: &str, n: Option<usize>) -> Vec<&'a str> {
    if n == Some(0) {
        return Vec::new();
    }
    if sep.is_empty() {
        let mut parts: Vec<&str> = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if n.is_some_and(|n| parts.len() + 1 == n) {
                break;
            }
            let (head, tail) = rest.split_at(c.len_utf8());
            parts.push(head);
            rest = tail;
        }
        if !rest.is_empty() {
            parts.push(rest);
        }
        return parts;
    }
    match n {
        Some(n) => s.splitn(n, sep).collect(),
        None => s.split(sep).collect(),
    }
}

fn indexed_map(parts: &[&str]) -> Value {
    let m = Map::new();
    for (i, p) in parts.iter().enumerate() {
        m.insert(format!("_{i}"), Value::str(p));
    }
    Value::Map(m)
}

/// `split SEP S`: a dict `{_0: .., _1: ..}`.
pub(super) fn split(name: &str, args: &[Value]) -> R {
    two_str(name, args, |sep, s| indexed_map(&go_split(s, sep, None)))
}

pub(super) fn split_list(name: &str, args: &[Value]) -> R {
    two_str(name, args, |sep, s| {
        Value::from(
            go_split(s, sep, None)
                .into_iter()
                .map(Value::str)
                .collect::<Vec<_>>(),
        )
    })
}

/// `splitn SEP N S`: at most N parts (all of them for a negative N).
pub(super) fn splitn(name: &str, args: &[Value]) -> R {
    let [sep, n, s] = exact(name, args)?;
    let (sep, n, s) = (args::string(sep)?, args::int(n)?, args::string(s)?);
    let n = usize::try_from(n).ok();
    Ok(indexed_map(&go_split(s, sep, n)))
}

/// `replace OLD NEW S`.
pub(super) fn replace(name: &str, args: &[Value]) -> R {
    let [old, new, s] = exact(name, args)?;
    let (old, new, s) = (args::string(old)?, args::string(new)?, args::string(s)?);
    if old.is_empty() {
        // Go inserts NEW before every character and at the end.
        let mut out = String::from(new);
        for c in s.chars() {
            out.push(c);
            out.push_str(new);
        }
        return Ok(Value::str(out));
    }
    Ok(Value::str(s.replace(old, new)))
}

fn repeat_str(s: &str, count: i64) -> Result<String, String> {
    let count = usize::try_from(count).map_err(|_| "strings: negative Repeat count".to_owned())?;
    if count.checked_mul(s.len()).is_none_or(|n| n > 1 << 30) {
        return Err("strings: Repeat output length overflow".to_owned());
    }
    Ok(s.repeat(count))
}

/// `repeat COUNT S`.
pub(super) fn repeat(name: &str, args: &[Value]) -> R {
    let [count, s] = exact(name, args)?;
    let (count, s) = (args::int(count)?, args::string(s)?);
    Ok(Value::str(repeat_str(s, count)?))
}

fn indent_str(spaces: i64, s: &str) -> Result<String, String> {
    let pad = repeat_str(" ", spaces)?;
    let mut out = pad.clone();
    out.push_str(&s.replace('\n', &format!("\n{pad}")));
    Ok(out)
}

/// `indent N S`: every line of S prefixed by N spaces.
pub(super) fn indent(name: &str, args: &[Value]) -> R {
    let [n, s] = exact(name, args)?;
    Ok(Value::str(indent_str(args::int(n)?, args::string(s)?)?))
}

/// `nindent N S`: a newline, then `indent N S`.
pub(super) fn nindent(name: &str, args: &[Value]) -> R {
    let [n, s] = exact(name, args)?;
    let indented = indent_str(args::int(n)?, args::string(s)?)?;
    Ok(Value::str(format!("\n{indented}")))
}

/// `substr START END S`, in bytes, with Go's slice-bound errors.
pub(super) fn substr(name: &str, args: &[Value]) -> R {
    let [start, end, s] = exact(name, args)?;
    let (start, end, s) = (args::int(start)?, args::int(end)?, args::string(s)?);
    let b = s.as_bytes();
    let len = i64::try_from(b.len()).unwrap_or(i64::MAX);
    let cut = |lo: i64, hi: i64| -> R {
        let range = usize::try_from(lo)
            .ok()
            .zip(usize::try_from(hi).ok())
            .and_then(|(lo, hi)| b.get(lo..hi));
        range.map(bytes_str).ok_or_else(|| {
            if hi > len {
                slice_error(format!("[:{hi}] with length {len}"))
            } else if hi < 0 {
                slice_error(format!("[:{hi}]"))
            } else {
                slice_error(format!("[{lo}:{hi}]"))
            }
        })
    };
    if start < 0 {
        return cut(0, end);
    }
    if end < 0 || end > len {
        return cut(start, len);
    }
    cut(start, end)
}

/// `trunc N S`: the first N bytes, or the last -N bytes for a negative N.
pub(super) fn trunc(name: &str, args: &[Value]) -> R {
    let [c, s] = exact(name, args)?;
    let (c, s) = (args::int(c)?, args::string(s)?);
    let b = s.as_bytes();
    let len = i64::try_from(b.len()).unwrap_or(i64::MAX);
    let out = if c < 0 && len + c > 0 {
        usize::try_from(len + c).ok().and_then(|i| b.get(i..))
    } else if c >= 0 && len > c {
        usize::try_from(c).ok().and_then(|i| b.get(..i))
    } else {
        None
    };
    Ok(out.map_or_else(|| Value::str(s), bytes_str))
}

/// goutils' `AbbreviateFull`, in bytes; `None` where goutils returns an error.
fn abbreviate(s: &str, offset: i64, max_width: i64) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some(Vec::new());
    }
    if max_width < 4 {
        return None;
    }
    let len = i64::try_from(b.len()).unwrap_or(i64::MAX);
    if len <= max_width {
        return Some(b.to_vec());
    }
    let mut offset = offset.min(len);
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    let slice = |lo: i64, hi: i64| -> Option<&[u8]> {
        b.get(usize::try_from(lo).ok()?..usize::try_from(hi).ok()?)
    };
    let mut out = Vec::new();
    if offset <= 4 {
        out.extend_from_slice(slice(0, max_width - 3)?);
        out.extend_from_slice(b"...");
        return Some(out);
    }
    if max_width < 7 {
        return None;
    }
    out.extend_from_slice(b"...");
    if offset + max_width - 3 < len {
        let rest = String::from_utf8_lossy(slice(offset, len)?).into_owned();
        out.extend(abbreviate(&rest, 0, max_width - 3)?);
        return Some(out);
    }
    out.extend_from_slice(slice(len - (max_width - 3), len)?);
    Some(out)
}

/// `abbrev WIDTH S`: S cut to WIDTH bytes ending in `...`.
pub(super) fn abbrev(name: &str, args: &[Value]) -> R {
    let [width, s] = exact(name, args)?;
    let (width, s) = (args::int(width)?, args::string(s)?);
    if width < 4 {
        return Ok(Value::str(s));
    }
    Ok(bytes_str(&abbreviate(s, 0, width).unwrap_or_default()))
}

/// `abbrevboth LEFT RIGHT S`: abbreviated on both sides around offset LEFT.
pub(super) fn abbrevboth(name: &str, args: &[Value]) -> R {
    let [left, right, s] = exact(name, args)?;
    let (left, right, s) = (args::int(left)?, args::int(right)?, args::string(s)?);
    if right < 4 || left > 0 && right < 7 {
        return Ok(Value::str(s));
    }
    Ok(bytes_str(&abbreviate(s, left, right).unwrap_or_default()))
}

/// goutils' `WrapCustom`, in bytes: words are split at spaces; long words are cut only when
/// `wrap_long` is set.
fn wrap_custom(s: &str, width: i64, sep: &str, wrap_long: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 8);
    if b.is_empty() {
        return out;
    }
    let sep = if sep.is_empty() { "\n" } else { sep };
    let width = usize::try_from(width.max(1)).unwrap_or(1);
    let len = b.len();
    let mut offset = 0usize;
    while len - offset > width {
        if b.get(offset) == Some(&b' ') {
            offset += 1;
            continue;
        }
        let window = b.get(offset..offset + width + 1).unwrap_or_default();
        if let Some(space) = window.iter().rposition(|&c| c == b' ') {
            out.extend_from_slice(b.get(offset..offset + space).unwrap_or_default());
            out.extend_from_slice(sep.as_bytes());
            offset += space + 1;
        } else if wrap_long {
            out.extend_from_slice(b.get(offset..offset + width).unwrap_or_default());
            out.extend_from_slice(sep.as_bytes());
            offset += width;
        } else {
            let from = offset + width;
            match b
                .get(from..)
                .and_then(|r| r.iter().position(|&c| c == b' '))
            {
                Some(i) => {
                    out.extend_from_slice(b.get(offset..from + i).unwrap_or_default());
                    out.extend_from_slice(sep.as_bytes());
                    offset = from + i + 1;
                }
                None => {
                    out.extend_from_slice(b.get(offset..).unwrap_or_default());
                    offset = len;
                }
            }
        }
    }
    out.extend_from_slice(b.get(offset..).unwrap_or_default());
    out
}

/// `wrap WIDTH S`.
pub(super) fn wrap(name: &str, args: &[Value]) -> R {
    let [width, s] = exact(name, args)?;
    Ok(bytes_str(&wrap_custom(
        args::string(s)?,
        args::int(width)?,
        "",
        false,
    )))
}

/// `wrapWith WIDTH SEP S`: long words are cut too.
pub(super) fn wrap_with(name: &str, args: &[Value]) -> R {
    let [width, sep, s] = exact(name, args)?;
    let (width, sep, s) = (args::int(width)?, args::string(sep)?, args::string(s)?);
    Ok(bytes_str(&wrap_custom(s, width, sep, true)))
}

/// `quote A B ...`: each non-nil argument Go-quoted, joined by spaces.
pub(super) fn quote(_name: &str, args: &[Value]) -> R {
    let quoted: Vec<String> = args
        .iter()
        .filter(|v| !v.is_nil())
        .map(|v| go_quote(&strval(v)))
        .collect();
    Ok(Value::str(quoted.join(" ")))
}

/// `squote A B ...`: each non-nil argument in single quotes (no escaping).
pub(super) fn squote(_name: &str, args: &[Value]) -> R {
    let quoted: Vec<String> = args
        .iter()
        .filter(|v| !v.is_nil())
        .map(|v| format!("'{}'", v.go_string()))
        .collect();
    Ok(Value::str(quoted.join(" ")))
}

/// `cat A B ...`: the non-nil arguments printed and joined by spaces.
pub(super) fn cat(_name: &str, args: &[Value]) -> R {
    let parts: Vec<String> = args
        .iter()
        .filter(|v| !v.is_nil())
        .map(Value::go_string)
        .collect();
    Ok(Value::str(parts.join(" ")))
}

/// `plural ONE MANY COUNT`.
pub(super) fn plural(name: &str, args: &[Value]) -> R {
    let [one, many, count] = exact(name, args)?;
    let (one, many, count) = (args::string(one)?, args::string(many)?, args::int(count)?);
    Ok(Value::str(if count == 1 { one } else { many }))
}

/// `toString V`: Sprig's `strval`.
pub(super) fn to_string(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::str(strval(v)))
}

/// Sprig's `strslice`: a list's non-nil elements as strings, nil as no strings, anything else
/// as one string.
pub(super) fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().filter(|v| !v.is_nil()).map(strval).collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn string_list(items: Vec<String>) -> Value {
    Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>())
}

/// `toStrings V`.
pub(super) fn to_strings(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(string_list(strslice(v)))
}

/// `join SEP V`.
pub(super) fn join(name: &str, args: &[Value]) -> R {
    let [sep, v] = exact(name, args)?;
    Ok(Value::str(strslice(v).join(args::string(sep)?)))
}

/// `sortAlpha V`: a list's elements as strings in byte order; any other value as a
/// one-element list.
pub(super) fn sort_alpha(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    let mut items = match v {
        Value::List(_) => strslice(v),
        other => vec![strval(other)],
    };
    items.sort();
    Ok(string_list(items))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::Value;

    /// Expectations checked against Helm.
    #[test]
    fn string_functions_match_helm() {
        let i = Value::Int;
        check(&[
            ("trim", vec![s("  a \n")], Ok(s("a"))),
            ("upper", vec![s("straße")], Ok(s("STRAßE"))),
            ("lower", vec![s("ABC")], Ok(s("abc"))),
            ("title", vec![s("hello wORLD")], Ok(s("Hello WORLD"))),
            ("untitle", vec![s("Hello World")], Ok(s("hello world"))),
            ("swapcase", vec![s("Hello World")], Ok(s("hELLO wORLD"))),
            ("initials", vec![s("John doe  Foo")], Ok(s("JdF"))),
            ("initials", vec![s("élan vital")], Ok(s("Ãv"))),
            ("nospace", vec![s(" a b\tc\n")], Ok(s("abc"))),
            ("nospace", vec![s("héllo wörld")], Ok(s("hÃ©llowÃ¶rld"))),
            ("abbrev", vec![i(5), s("hello world")], Ok(s("he..."))),
            ("abbrev", vec![i(3), s("hello")], Ok(s("hello"))),
            ("abbrev", vec![i(20), s("hello")], Ok(s("hello"))),
            (
                "abbrevboth",
                vec![i(5), i(10), s("1234 5678 9123")],
                Ok(s("...5678...")),
            ),
            (
                "abbrevboth",
                vec![i(0), i(6), s("abcdefghij")],
                Ok(s("abc...")),
            ),
            (
                "abbrevboth",
                vec![i(10), i(7), s("abcdefghijklmnop")],
                Ok(s("...k...")),
            ),
            (
                "abbrevboth",
                vec![i(5), i(8), s("abcdefghijklmnopqrstuvwxyz")],
                Ok(s("...fg...")),
            ),
            (
                "abbrevboth",
                vec![i(20), i(8), s("abcdefghijklmnopqrstuvwxyz")],
                Ok(s("...uv...")),
            ),
            (
                "abbrevboth",
                vec![i(-5), i(4), s("abcdefghijklmnopqrstuvwxyz")],
                Ok(s("a...")),
            ),
            (
                "wrap",
                vec![i(5), s("hello world this is a test")],
                Ok(s("hello\nworld\nthis\nis a\ntest")),
            ),
            ("wrap", vec![i(3), s("abcdefgh ij")], Ok(s("abcdefgh\nij"))),
            ("wrap", vec![i(0), s("a b c")], Ok(s("a\nb\nc"))),
            (
                "wrap",
                vec![i(5), s("  hello   world  ")],
                Ok(s("hello\nworld\n ")),
            ),
            (
                "wrapWith",
                vec![i(5), s("\t"), s("hello world")],
                Ok(s("hello\tworld")),
            ),
            (
                "wrapWith",
                vec![i(3), s("|"), s("abcdefgh ij")],
                Ok(s("abc|def|gh|ij")),
            ),
            (
                "wrapWith",
                vec![i(4), s("<br>"), s("abcdefghij klm")],
                Ok(s("abcd<br>efgh<br>ij<br>klm")),
            ),
            ("trunc", vec![i(5), s("hello world")], Ok(s("hello"))),
            ("trunc", vec![i(-5), s("hello world")], Ok(s("world"))),
            ("trunc", vec![i(-20), s("hello")], Ok(s("hello"))),
            ("trunc", vec![i(0), s("abc")], Ok(s(""))),
            ("trunc", vec![i(2), s("héllo")], Ok(s("h\u{fffd}"))),
            ("substr", vec![i(1), i(3), s("hello")], Ok(s("el"))),
            ("substr", vec![i(-1), i(3), s("hello")], Ok(s("hel"))),
            ("substr", vec![i(2), i(-1), s("hello")], Ok(s("llo"))),
            ("substr", vec![i(2), i(99), s("hello")], Ok(s("llo"))),
            ("substr", vec![i(0), i(10), s("abc")], Ok(s("abc"))),
            (
                "substr",
                vec![i(-1), i(10), s("abc")],
                Err("runtime error: slice bounds out of range [:10] with length 3"),
            ),
            (
                "substr",
                vec![i(4), i(2), s("abc")],
                Err("runtime error: slice bounds out of range [4:2]"),
            ),
            (
                "substr",
                vec![i(-1), i(-1), s("abc")],
                Err("runtime error: slice bounds out of range [:-1]"),
            ),
            (
                "substr",
                vec![i(5), i(-1), s("abc")],
                Err("runtime error: slice bounds out of range [5:3]"),
            ),
            ("repeat", vec![i(3), s("ab")], Ok(s("ababab"))),
            (
                "repeat",
                vec![i(-1), s("x")],
                Err("strings: negative Repeat count"),
            ),
            (
                "repeat",
                vec![Value::Float(2.0), s("x")],
                Err("wrong type for value; expected int; got float64"),
            ),
            ("trimAll", vec![s("$"), s("$$5.00$")], Ok(s("5.00"))),
            ("trimAll", vec![s("ab"), s("abcba")], Ok(s("c"))),
            ("trimall", vec![s("x"), s("xxaxx")], Ok(s("a"))),
            ("trimPrefix", vec![s("-"), s("--a")], Ok(s("-a"))),
            ("trimSuffix", vec![s("-"), s("a--")], Ok(s("a-"))),
            (
                "contains",
                vec![s("cat"), s("catch")],
                Ok(Value::Bool(true)),
            ),
            ("hasPrefix", vec![s("ca"), s("cat")], Ok(Value::Bool(true))),
            ("hasSuffix", vec![s("at"), s("cat")], Ok(Value::Bool(true))),
            (
                "quote",
                vec![
                    s("a"),
                    i(1),
                    Value::Nil,
                    Value::Float(3.0),
                    Value::Bool(true),
                ],
                Ok(s("\"a\" \"1\" \"3\" \"true\"")),
            ),
            ("quote", vec![], Ok(s(""))),
            (
                "quote",
                vec![s("say \"hi\"\n")],
                Ok(s("\"say \\\"hi\\\"\\n\"")),
            ),
            ("squote", vec![s("a"), i(1), Value::Nil], Ok(s("'a' '1'"))),
            (
                "cat",
                vec![
                    s("a"),
                    Value::Nil,
                    i(1),
                    l(vec![Value::Float(1.0), s("two"), Value::Nil]),
                ],
                Ok(s("a 1 [1 two <nil>]")),
            ),
            ("indent", vec![i(2), s("a\nb")], Ok(s("  a\n  b"))),
            (
                "indent",
                vec![i(-2), s("a")],
                Err("strings: negative Repeat count"),
            ),
            ("nindent", vec![i(2), s("a")], Ok(s("\n  a"))),
            ("replace", vec![s("a"), s("b"), s("aaa")], Ok(s("bbb"))),
            ("replace", vec![s(""), s("-"), s("ab")], Ok(s("-a-b-"))),
            ("plural", vec![s("one"), s("many"), i(1)], Ok(s("one"))),
            ("plural", vec![s("one"), s("many"), i(2)], Ok(s("many"))),
            ("toString", vec![Value::Float(3.0)], Ok(s("3"))),
            ("toString", vec![Value::Nil], Ok(s("<nil>"))),
            (
                "toStrings",
                vec![l(vec![Value::Float(1.0), s("two"), Value::Nil])],
                Ok(l(vec![s("1"), s("two")])),
            ),
            ("toStrings", vec![s("a")], Ok(l(vec![s("a")]))),
            ("toStrings", vec![Value::Nil], Ok(l(vec![]))),
            (
                "splitList",
                vec![s("/"), s("a/b")],
                Ok(l(vec![s("a"), s("b")])),
            ),
            (
                "splitList",
                vec![s(""), s("ab")],
                Ok(l(vec![s("a"), s("b")])),
            ),
            ("splitList", vec![s(","), s("")], Ok(l(vec![s("")]))),
            (
                "join",
                vec![s("-"), l(vec![Value::Float(1.0), s("two"), Value::Nil])],
                Ok(s("1-two")),
            ),
            ("join", vec![s(","), i(3)], Ok(s("3"))),
            (
                "sortAlpha",
                vec![l(vec![s("b"), s("B"), s("a"), i(10), i(9)])],
                Ok(l(vec![s("10"), s("9"), s("B"), s("a"), s("b")])),
            ),
            ("sortAlpha", vec![Value::Nil], Ok(l(vec![s("<nil>")]))),
            (
                "upper",
                vec![s("a"), s("b")],
                Err("wrong number of args for upper: want 1 got 2"),
            ),
            (
                "upper",
                vec![Value::Float(3.0)],
                Err("wrong type for value; expected string; got float64"),
            ),
        ]);
    }

    #[test]
    fn split_builds_indexed_dicts() {
        let i = Value::Int;
        for (f, args, want) in [
            ("split", vec![s("/"), s("a/b/c")], "map[_0:a _1:b _2:c]"),
            ("splitn", vec![s("/"), i(2), s("a/b/c")], "map[_0:a _1:b/c]"),
            ("splitn", vec![s("/"), i(0), s("a/b")], "map[]"),
            (
                "splitn",
                vec![s("/"), i(-1), s("a/b/c")],
                "map[_0:a _1:b _2:c]",
            ),
            (
                "split",
                vec![s(""), s("héllo")],
                "map[_0:h _1:é _2:l _3:l _4:o]",
            ),
        ] {
            let out = super::super::tests::call(f, &args).map(|v| v.go_string());
            assert_eq!(out, Ok(want.to_owned()), "{f} {args:?}");
        }
    }
}
