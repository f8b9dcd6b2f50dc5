//! Sprig's regular-expression functions over Go's RE2 syntax. The `regex` crate speaks nearly
//! the same dialect; the differences that matter are bridged here: Go's `\d`, `\w`, `\s` and
//! `\b` are ASCII-only, Go accepts `\Q...\E`, Go finds successive matches with its own rule for
//! empty matches, and Go's replacement templates (`$1`, `${name}`) are expanded as Go does.
//! Errors read like Go's (`error parsing regexp: missing closing ]: ...`); the functions
//! without `must` fail with Go's `regexp: Compile(...)` panic text, except `regexMatch`, which
//! answers false.

use super::args::{self, exact};
use crate::value::Value;
use regex::{Captures, Regex};

type R = Result<Value, String>;

/// Go's regexp syntax rewritten for the `regex` crate.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii = |class: &str, out: &mut String| {
                    if in_class {
                        out.push_str(class);
                    } else {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                };
                match next {
                    'd' => ascii("0-9", &mut out),
                    'D' => out.push_str("[^0-9]"),
                    'w' => ascii("0-9A-Za-z_", &mut out),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => ascii("\\t\\n\\f\\r ", &mut out),
                    'S' => out.push_str("[^\\t\\n\\f\\r ]"),
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    'Q' => {
                        let mut literal = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            literal.push(q);
                        }
                        out.push_str(&regex::escape(&literal));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A leading `^` and a leading `]` belong to the class syntax.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:] inside a bracket expression.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class && chars.peek() == Some(&c) => {
                // Doubled, these are set operators to the `regex` crate, plain to Go.
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

/// Go's error text for a pattern the `regex` crate rejects.
fn go_error(pattern: &str, err: &regex::Error) -> String {
    let text = err.to_string();
    let detail = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(text.as_str());
    let go = if detail.contains("unclosed character class") {
        let start = pattern.rfind('[').unwrap_or(0);
        format!(
            "missing closing ]: `{}`",
            pattern.get(start..).unwrap_or(pattern)
        )
    } else if detail.contains("unclosed group") {
        format!("missing closing ): `{pattern}`")
    } else if detail.contains("unopened group") {
        format!("unexpected ): `{pattern}`")
    } else if detail.contains("repetition operator missing expression") {
        let op = pattern
            .chars()
            .find(|c| matches!(c, '*' | '+' | '?' | '{'))
            .unwrap_or('*');
        format!("missing argument to repetition operator: `{op}`")
    } else {
        format!("invalid syntax: {detail}")
    };
    format!("error parsing regexp: {go}")
}

/// Compiles `pattern`; `must` picks between the `must*` error and the non-`must` panic text.
fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(&translate(pattern)).map_err(|e| {
        let msg = go_error(pattern, &e);
        if name.starts_with("must") {
            msg
        } else {
            format!("regexp: Compile(`{pattern}`): {msg}")
        }
    })
}

/// Go's `allMatches`: successive matches, skipping an empty match right after a match.
fn all_matches<'h>(re: &Regex, s: &'h str, n: i64) -> Vec<Captures<'h>> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut pos = 0usize;
    let mut prev_end: Option<usize> = None;
    while out.len() < limit && pos <= s.len() {
        let Some(caps) = re.captures_at(s, pos) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        let mut accept = true;
        if m.end() == m.start() {
            if Some(m.start()) == prev_end {
                accept = false;
            }
            pos = m.end()
                + s.get(m.end()..)
                    .and_then(|r| r.chars().next())
                    .map_or(1, char::len_utf8);
        } else {
            pos = m.end();
        }
        prev_end = Some(m.end());
        if accept {
            out.push(caps);
        }
    }
    out
}

fn strings(items: Vec<&str>) -> Value {
    Value::from(items.into_iter().map(Value::str).collect::<Vec<_>>())
}

/// `regexMatch RE S` (false for a bad pattern) and `mustRegexMatch` (an error).
pub(super) fn regex_match(name: &str, args: &[Value]) -> R {
    let [re, s] = exact(name, args)?;
    let (re, s) = (args::string(re)?, args::string(s)?);
    match compile(name, re) {
        Ok(re) => Ok(Value::Bool(re.is_match(s))),
        Err(_) if !name.starts_with("must") => Ok(Value::Bool(false)),
        Err(e) => Err(e),
    }
}

/// `regexFindAll RE S N`: up to N matches (all for a negative N).
pub(super) fn regex_find_all(name: &str, args: &[Value]) -> R {
    let [re, s, n] = exact(name, args)?;
    let (re, s, n) = (args::string(re)?, args::string(s)?, args::int(n)?);
    let re = compile(name, re)?;
    let found = all_matches(&re, s, n);
    Ok(strings(
        found
            .iter()
            .filter_map(|c| c.get(0))
            .map(|m| m.as_str())
            .collect(),
    ))
}

/// `regexFind RE S`: the first match, or "".
pub(super) fn regex_find(name: &str, args: &[Value]) -> R {
    let [re, s] = exact(name, args)?;
    let (re, s) = (args::string(re)?, args::string(s)?);
    let re = compile(name, re)?;
    Ok(Value::str(re.find(s).map_or("", |m| m.as_str())))
}

/// Go's `Regexp.Expand` of a replacement template for one match.
fn expand(re: &Regex, template: &str, caps: &Captures<'_>, out: &mut String) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(rest.get(..dollar).unwrap_or(""));
        rest = rest.get(dollar + 1..).unwrap_or("");
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let braced = rest.starts_with('{');
        let body = if braced {
            rest.get(1..).unwrap_or("")
        } else {
            rest
        };
        let name_len: usize = body
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .map(char::len_utf8)
            .sum();
        let name = body.get(..name_len).unwrap_or("");
        let closed = !braced || body.get(name_len..).is_some_and(|r| r.starts_with('}'));
        if name.is_empty() || !closed {
            out.push('$');
            continue;
        }
        rest = body.get(name_len + usize::from(braced)..).unwrap_or("");
        let number = if name.bytes().all(|b| b.is_ascii_digit())
            && !(name.len() > 1 && name.starts_with('0'))
        {
            name.parse::<usize>().ok()
        } else {
            None
        };
        let group = match number {
            Some(i) => caps.get(i),
            None => re
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| caps.get(i)),
        };
        if let Some(g) = group {
            out.push_str(g.as_str());
        }
    }
    out.push_str(rest);
}

fn replace_all(name: &str, args: &[Value], literal: bool) -> R {
    let [re, s, repl] = exact(name, args)?;
    let (re, s, repl) = (args::string(re)?, args::string(s)?, args::string(repl)?);
    let re = compile(name, re)?;
    let mut out = String::with_capacity(s.len());
    let mut last = 0usize;
    for caps in all_matches(&re, s, -1) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(s.get(last..m.start()).unwrap_or(""));
        if literal {
            out.push_str(repl);
        } else {
            expand(&re, repl, &caps, &mut out);
        }
        last = m.end();
    }
    out.push_str(s.get(last..).unwrap_or(""));
    Ok(Value::str(out))
}

/// `regexReplaceAll RE S REPL`: `$1`, `${1}` and `${name}` in REPL expand to groups.
pub(super) fn regex_replace_all(name: &str, args: &[Value]) -> R {
    replace_all(name, args, false)
}

/// `regexReplaceAllLiteral RE S REPL`: REPL as it is.
pub(super) fn regex_replace_all_literal(name: &str, args: &[Value]) -> R {
    replace_all(name, args, true)
}

/// `regexSplit RE S N`: Go's `Regexp.Split`.
pub(super) fn regex_split(name: &str, args: &[Value]) -> R {
    let [re, s, n] = exact(name, args)?;
    let (pattern, s, n) = (args::string(re)?, args::string(s)?, args::int(n)?);
    let re = compile(name, pattern)?;
    if n == 0 {
        return Ok(strings(Vec::new()));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(strings(vec![""]));
    }
    let limit = usize::try_from(n).ok();
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for caps in all_matches(&re, s, n) {
        let Some(m) = caps.get(0) else { continue };
        if limit.is_some_and(|n| parts.len() + 1 == n) {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            parts.push(s.get(beg..end).unwrap_or(""));
        }
        beg = m.end();
    }
    if end != s.len() {
        parts.push(s.get(beg..).unwrap_or(""));
    }
    Ok(strings(parts))
}

/// `regexQuoteMeta S`: Go's `regexp.QuoteMeta`.
pub(super) fn regex_quote_meta(name: &str, args: &[Value]) -> R {
    let [s] = exact(name, args)?;
    let mut out = String::new();
    for c in args::string(s)?.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::str(out))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::Value;

    /// Expectations checked against Helm.
    #[test]
    fn regex_functions_match_helm() {
        let i = Value::Int;
        let b = Value::Bool;
        check(&[
            ("regexMatch", vec![s("^a.c$"), s("abc")], Ok(b(true))),
            ("regexMatch", vec![s("["), s("abc")], Ok(b(false))),
            (
                "mustRegexMatch",
                vec![s("["), s("abc")],
                Err("error parsing regexp: missing closing ]: `[`"),
            ),
            (
                "regexFind",
                vec![s("["), s("abc")],
                Err("regexp: Compile(`[`): error parsing regexp: missing closing ]: `[`"),
            ),
            (
                "mustRegexFind",
                vec![s("["), s("abc")],
                Err("error parsing regexp: missing closing ]: `[`"),
            ),
            (
                "regexFindAll",
                vec![s("a."), s("aXaYaZ"), i(-1)],
                Ok(l(vec![s("aX"), s("aY"), s("aZ")])),
            ),
            (
                "regexFindAll",
                vec![s("a."), s("aXaYaZ"), i(2)],
                Ok(l(vec![s("aX"), s("aY")])),
            ),
            (
                "regexFindAll",
                vec![s("a."), s("aXaYaZ"), i(0)],
                Ok(l(vec![])),
            ),
            (
                "regexFindAll",
                vec![s(""), s("abc"), i(-1)],
                Ok(l(vec![s(""), s(""), s(""), s("")])),
            ),
            ("regexFind", vec![s("b+"), s("abbbc")], Ok(s("bbb"))),
            ("regexFind", vec![s("z"), s("abc")], Ok(s(""))),
            (
                "regexReplaceAll",
                vec![s("a(x*)b"), s("-ab-axxb-"), s("${1}W")],
                Ok(s("-W-xxW-")),
            ),
            (
                "regexReplaceAll",
                vec![s("a(x*)b"), s("-ab-axxb-"), s("$1W")],
                Ok(s("---")),
            ),
            (
                "regexReplaceAll",
                vec![s("(?P<first>\\w+)"), s("hello"), s("<$first>")],
                Ok(s("<hello>")),
            ),
            (
                "regexReplaceAll",
                vec![s("x"), s("axb"), s("$$")],
                Ok(s("a$b")),
            ),
            (
                "regexReplaceAll",
                vec![s("(a)"), s("a"), s("$2|$x|${1")],
                Ok(s("||${1")),
            ),
            (
                "regexReplaceAll",
                vec![s(""), s("abc"), s("-")],
                Ok(s("-a-b-c-")),
            ),
            (
                "regexReplaceAll",
                vec![s("a*"), s("baaac"), s("-")],
                Ok(s("-b-c-")),
            ),
            (
                "regexReplaceAllLiteral",
                vec![s("a(x*)b"), s("-ab-axxb-"), s("${1}")],
                Ok(s("-${1}-${1}-")),
            ),
            (
                "regexSplit",
                vec![s("z+"), s("pizza"), i(-1)],
                Ok(l(vec![s("pi"), s("a")])),
            ),
            (
                "regexSplit",
                vec![s("z+"), s("pizza"), i(1)],
                Ok(l(vec![s("pizza")])),
            ),
            (
                "regexSplit",
                vec![s(""), s("abc"), i(-1)],
                Ok(l(vec![s("a"), s("b"), s("c")])),
            ),
            ("regexSplit", vec![s("a"), s(""), i(-1)], Ok(l(vec![s("")]))),
            (
                "regexSplit",
                vec![s(","), s("a,b,c"), i(2)],
                Ok(l(vec![s("a"), s("b,c")])),
            ),
            (
                "regexQuoteMeta",
                vec![s("1.2+[x]")],
                Ok(s("1\\.2\\+\\[x\\]")),
            ),
            ("regexMatch", vec![s("(?i)ABC"), s("abc")], Ok(b(true))),
            ("regexFind", vec![s("\\d+"), s("x123")], Ok(s("123"))),
            ("regexFind", vec![s("\\d+"), s("x١٢٣4")], Ok(s("4"))),
            ("regexFind", vec![s("[[:alpha:]]+"), s("12ab")], Ok(s("ab"))),
            ("regexFind", vec![s("\\pL+"), s("12éa")], Ok(s("éa"))),
            ("regexFind", vec![s("(?s)a.b"), s("a\nb")], Ok(s("a\nb"))),
            ("regexFind", vec![s("\\Qa.b\\E"), s("xa.b")], Ok(s("a.b"))),
            (
                "regexFind",
                vec![s("\\bfoo\\b"), s("a foo b")],
                Ok(s("foo")),
            ),
            (
                "regexFind",
                vec![s("[\\w.]+"), s("-a.b_c-")],
                Ok(s("a.b_c")),
            ),
        ]);
    }
}
