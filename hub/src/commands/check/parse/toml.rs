//! TOML: one document; dates and times become RFC 3339 strings.

use serde_json::{Map, Value as Json};

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let message = e.message().trim().to_owned();
        match e.span() {
            Some(span) => ParseError::at_offset(text, span.start, message),
            None => ParseError {
                line: None,
                column: None,
                message,
            },
        }
    })?;
    Ok(convert(toml::Value::Table(table)))
}

fn convert(value: toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.to_string())),
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.into_iter().map(convert).collect()),
        toml::Value::Table(table) => Json::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, convert(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_arrays_and_dates() {
        let doc = parse("title = \"x\"\n[owner]\nborn = 1979-05-27T07:32:00Z\n[[servers]]\nport = 80\n[[servers]]\nport = 81\n").unwrap();
        assert_eq!(
            doc,
            json!({"title": "x", "owner": {"born": "1979-05-27T07:32:00Z"}, "servers": [{"port": 80}, {"port": 81}]})
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(err.column.is_some());
    }
}
