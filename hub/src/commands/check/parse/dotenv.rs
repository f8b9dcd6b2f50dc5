//! dotenv files: `KEY=value` lines as one object of strings.
//!
//! Follows gotenv's strict parsing, which conftest uses: `export ` prefixes, `KEY: value`,
//! single quotes (literal), double quotes (escapes and `${VAR}` expansion), unquoted values
//! (trimmed, ending at ` #`, expanded). Variables expand from keys defined earlier in the same
//! file only, so a check never depends on the machine's environment. A line that is not a
//! comment, blank or an assignment is an error on that line.

use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let mut vars: Map<String, Json> = Map::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let key_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(line.len());
        let key = line.get(..key_end).unwrap_or_default();
        let rest = line.get(key_end..).unwrap_or_default().trim_start();
        let value = match rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) {
            Some(value) if !key.is_empty() => value.trim(),
            _ => {
                return Err(ParseError::on_line(
                    number,
                    format!("`{line}` is not a `KEY=value` assignment"),
                ));
            }
        };
        let value = if let Some(inner) = value.strip_prefix('\'') {
            let Some(end) = inner.rfind('\'') else {
                return Err(ParseError::on_line(
                    number,
                    "a single quote is never closed",
                ));
            };
            inner.get(..end).unwrap_or_default().to_owned()
        } else if let Some(inner) = value.strip_prefix('"') {
            let Some(end) = closing_quote(inner) else {
                return Err(ParseError::on_line(
                    number,
                    "a double quote is never closed",
                ));
            };
            expand(&unescape(inner.get(..end).unwrap_or_default()), &vars)
        } else {
            let value = value
                .find(" #")
                .map_or(value, |i| value.get(..i).unwrap_or_default())
                .trim();
            expand(value, &vars)
        };
        vars.insert(key.to_owned(), Json::String(value));
    }
    Ok(Json::Object(vars))
}

/// The index of the first unescaped `"`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('$') => out.push_str("\\$"),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Expands `$VAR` and `${VAR}` from earlier keys; `\$` stays a literal `$`.
fn expand(text: &str, vars: &Map<String, Json>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let (before, after) = rest.split_at(i);
        if let Some(kept) = before.strip_suffix('\\') {
            out.push_str(kept);
            out.push('$');
            rest = after.get(1..).unwrap_or_default();
            continue;
        }
        out.push_str(before);
        let after = after.get(1..).unwrap_or_default();
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (braced.get(..end).unwrap_or_default(), end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (after.get(..end).unwrap_or_default(), end)
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        if let Some(v) = vars.get(name).and_then(Json::as_str) {
            out.push_str(v);
        }
        rest = after.get(consumed..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assignments_quotes_and_expansion() {
        let doc = parse(
            "# settings\nexport HOST=db.local\nPORT: 5432\nURL=\"postgres://${HOST}:$PORT\\n\"\nRAW='${HOST}'\nNOTE=plain value # comment\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"HOST": "db.local", "PORT": "5432", "URL": "postgres://db.local:5432\n", "RAW": "${HOST}", "NOTE": "plain value", "EMPTY": ""})
        );
    }

    #[test]
    fn a_line_that_is_not_an_assignment_is_an_error_on_its_line() {
        let err = parse("A=1\nthis is not it\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
