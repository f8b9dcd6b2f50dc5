//! JSON: a file holds one value, or a stream of them (`.ndjson`), each a separate input.

use serde_json::Value as Json;

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Vec<Json>, ParseError> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Json>()
        .map(|doc| doc.map_err(|e| located(&e)))
        .collect()
}

/// A serde_json error as a located parse error, without the trailing "at line L column C".
pub(super) fn located(e: &serde_json::Error) -> ParseError {
    let text = e.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m)
        .to_owned();
    ParseError::at(e.line(), e.column(), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_value_or_a_stream() {
        assert_eq!(parse("[1, 2]").unwrap(), vec![json!([1, 2])]);
        assert_eq!(
            parse("{\"a\": 1}\n{\"a\": 2}\n").unwrap(),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(7)));
        assert_eq!(err.message, "expected `:`");
    }
}
