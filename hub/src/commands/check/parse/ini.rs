//! INI, read the way conftest's go-ini based parser reads it: `{section: {key: value}}`.
//!
//! Keys before the first section (go-ini's `DEFAULT` section) are left out, as conftest does.
//! Values that read as numbers become numbers and `true`/`false` (and Go's other boolean
//! spellings) become booleans; everything else stays a string. Quotes around a value are
//! removed; an unquoted value ends at `#` or `;`.

use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let mut sections: Map<String, Json> = Map::new();
    let mut current: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err(ParseError::on_line(
                    number,
                    format!("the section header `{line}` has no closing `]`"),
                ));
            };
            let name = rest.get(..end).unwrap_or_default().trim().to_owned();
            current = (name != "DEFAULT").then(|| name.clone());
            if let Some(name) = &current {
                sections
                    .entry(name.clone())
                    .or_insert_with(|| Json::Object(Map::new()));
            }
            continue;
        }
        let Some(split) = line.find(['=', ':']) else {
            return Err(ParseError::on_line(
                number,
                format!("`{line}` is neither a section header nor `key = value`"),
            ));
        };
        let key = line.get(..split).unwrap_or_default().trim();
        let value = unquote(line.get(split + 1..).unwrap_or_default().trim());
        let Some(section) = &current else { continue };
        if let Some(Json::Object(map)) = sections.get_mut(section) {
            map.insert(key.to_owned(), typed(&value));
        }
    }
    Ok(Json::Object(sections))
}

/// Removes surrounding quotes, or cuts an inline comment from an unquoted value.
fn unquote(value: &str) -> String {
    for quote in ["\"\"\"", "\"", "'", "`"] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.find(quote).map(|end| v.get(..end).unwrap_or_default()))
        {
            return inner.to_owned();
        }
    }
    value
        .split(['#', ';'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Numbers, then booleans (Go's `strconv` spellings), then strings.
fn typed(value: &str) -> Json {
    if let Some(n) = super::number(value) {
        return n;
    }
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Json::Bool(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Json::Bool(false),
        _ => Json::String(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_with_typed_values() {
        let doc = parse(
            "global = ignored\n\n[server]\nport = 8080\nratio: 0.5\ndebug = true\nname = \"web #1\"\npath = /srv ; comment\n\n[empty]\n",
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"server": {"port": 8080, "ratio": 0.5, "debug": true, "name": "web #1", "path": "/srv"}, "empty": {}})
        );
    }

    #[test]
    fn a_line_without_a_separator_is_an_error_on_its_line() {
        let err = parse("[a]\nx = 1\nnonsense\n").unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
