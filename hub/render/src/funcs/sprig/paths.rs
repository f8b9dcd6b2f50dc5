//! Sprig's path functions: Go's `path` package (`base`, `dir`, `clean`, `ext`, `isAbs`). The
//! `os*` variants use `path/filepath`, which on the Unix systems Helm renders on is the same.

use super::args::{self, exact};
use crate::value::Value;

type R = Result<Value, String>;

/// Go's `path.Clean`: the shortest equivalent path, lexically.
pub(crate) fn clean_path(path: &str) -> String {
    let p = path.as_bytes();
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.first() == Some(&b'/');
    let n = p.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0usize, 0usize);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    let at = |i: usize| p.get(i).copied();
    while r < n {
        if at(r) == Some(b'/') || at(r) == Some(b'.') && (r + 1 == n || at(r + 1) == Some(b'/')) {
            // An empty element or `.`.
            r += 1;
        } else if at(r) == Some(b'.')
            && at(r + 1) == Some(b'.')
            && (r + 2 == n || at(r + 2) == Some(b'/'))
        {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out.last() != Some(&b'/') {
                    out.pop();
                }
                if out.len() > dotdot {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if rooted && out.len() != 1 || !rooted && !out.is_empty() {
                out.push(b'/');
            }
            while r < n && at(r) != Some(b'/') {
                if let Some(c) = at(r) {
                    out.push(c);
                }
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".to_owned();
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn one_path(name: &str, args: &[Value], f: impl FnOnce(&str) -> Value) -> R {
    let [p] = exact(name, args)?;
    Ok(f(args::string(p)?))
}

/// `base P`: the last element.
pub(super) fn base(name: &str, args: &[Value]) -> R {
    one_path(name, args, |p| {
        if p.is_empty() {
            return Value::str(".");
        }
        let trimmed = p.trim_end_matches('/');
        if trimmed.is_empty() {
            return Value::str("/");
        }
        Value::str(trimmed.rsplit('/').next().unwrap_or(trimmed))
    })
}

/// `dir P`: everything but the last element, cleaned.
pub(super) fn dir(name: &str, args: &[Value]) -> R {
    one_path(name, args, |p| {
        let head = p.rfind('/').map_or("", |i| p.get(..=i).unwrap_or(""));
        Value::str(clean_path(head))
    })
}

pub(super) fn clean(name: &str, args: &[Value]) -> R {
    one_path(name, args, |p| Value::str(clean_path(p)))
}

/// `ext P`: the extension of the last element, dot included.
pub(super) fn ext(name: &str, args: &[Value]) -> R {
    one_path(name, args, |p| {
        for (i, c) in p.char_indices().rev() {
            match c {
                '/' => break,
                '.' => return Value::str(p.get(i..).unwrap_or("")),
                _ => {}
            }
        }
        Value::str("")
    })
}

pub(super) fn is_abs(name: &str, args: &[Value]) -> R {
    one_path(name, args, |p| Value::Bool(p.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, s};
    use crate::value::Value;

    /// Expectations checked against Helm.
    #[test]
    fn paths_match_helm() {
        let b = Value::Bool;
        check(&[
            ("base", vec![s("a/b/c.txt")], Ok(s("c.txt"))),
            ("base", vec![s("")], Ok(s("."))),
            ("base", vec![s("/")], Ok(s("/"))),
            ("base", vec![s("a/b/")], Ok(s("b"))),
            ("dir", vec![s("a/b/c")], Ok(s("a/b"))),
            ("dir", vec![s("c")], Ok(s("."))),
            ("dir", vec![s("/a")], Ok(s("/"))),
            ("dir", vec![s("")], Ok(s("."))),
            ("dir", vec![s("a/b/")], Ok(s("a/b"))),
            ("clean", vec![s("a//b/../c/.")], Ok(s("a/c"))),
            ("clean", vec![s("")], Ok(s("."))),
            ("clean", vec![s("/../a")], Ok(s("/a"))),
            ("clean", vec![s("../../a/b/../../..")], Ok(s("../../.."))),
            ("ext", vec![s("a/b.tar.gz")], Ok(s(".gz"))),
            ("ext", vec![s("a.b/c")], Ok(s(""))),
            ("isAbs", vec![s("/a")], Ok(b(true))),
            ("isAbs", vec![s("a")], Ok(b(false))),
            ("osBase", vec![s("a/b")], Ok(s("b"))),
            ("osDir", vec![s("a/b")], Ok(s("a"))),
            ("osClean", vec![s("a/../b")], Ok(s("b"))),
            ("osExt", vec![s("x.y")], Ok(s(".y"))),
            ("osIsAbs", vec![s("/x")], Ok(b(true))),
        ]);
    }
}
