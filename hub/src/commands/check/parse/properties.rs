//! Java `.properties` files: one object of strings, as conftest's magiconair-based parser
//! returns them (`${...}` references are kept as written).
//!
//! Keys end at the first unescaped `=`, `:` or whitespace; `#` and `!` start comments; a line
//! ending in an odd number of backslashes continues on the next line (its leading whitespace
//! dropped); `\t`, `\n`, `\r`, `\f` and `\uXXXX` escapes are decoded.

use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let mut out = Map::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let first = raw.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = first.to_owned();
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key, index + 1)?;
        let value = unescape(value, index + 1)?;
        out.insert(key, Json::String(value));
    }
    Ok(Json::Object(out))
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line into its raw key and raw value.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\u{c}' => {
                let key = line.get(..i).unwrap_or_default();
                let mut rest = line
                    .get(i..)
                    .unwrap_or_default()
                    .trim_start_matches([' ', '\t', '\u{c}']);
                if c == '=' || c == ':' {
                    rest = rest.get(1..).unwrap_or_default();
                } else if let Some(r) = rest.strip_prefix(['=', ':']) {
                    rest = r;
                }
                return (key, rest.trim_start_matches([' ', '\t', '\u{c}']));
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(text: &str, line: usize) -> Result<String, ParseError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                match decoded {
                    Some(ch) if hex.len() == 4 => out.push(ch),
                    _ => {
                        return Err(ParseError::on_line(
                            line,
                            format!("`\\u{hex}` is not a valid unicode escape"),
                        ));
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_values_comments_and_continuations() {
        let doc = parse(
            "# comment\n! also\nserver.port=8080\nname : web\nspaced value\nlist = a, \\\n    b\nurl=${base}/x\nescaped\\ key=\\u00e9\n",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"server.port": "8080", "name": "web", "spaced": "value", "list": "a, b", "url": "${base}/x", "escaped key": "é"})
        );
    }

    #[test]
    fn a_bad_unicode_escape_is_an_error_on_its_line() {
        let err = parse("a=1\nb=\\uZZ\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
