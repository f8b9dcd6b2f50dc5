//! YAML: every document of a stream is a separate input; empty documents are skipped.
//!
//! Parsed the way Kubernetes reads manifests (serde-saphyr with legacy octal), through the
//! engine's own YAML reader, so `gatehouse check` and `gatehouse decide` agree on every value.

use serde_json::Value as Json;

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Vec<Json>, ParseError> {
    let documents: Vec<Json> =
        gatehouse_engine::yaml_from_str_multiple(text).map_err(|e| located(&e))?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// serde-saphyr reports `error: line L column C: message` followed by a source excerpt; keep
/// the position and the one-line message.
fn located(error: &str) -> ParseError {
    let first = error.lines().next().unwrap_or(error);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let position = first.strip_prefix("line ").and_then(|rest| {
        let (line, rest) = rest.split_once(" column ")?;
        let (column, message) = rest.split_once(": ")?;
        Some((line.parse().ok()?, column.parse().ok()?, message))
    });
    match position {
        Some((line, column, message)) => ParseError::at(line, column, message),
        None => ParseError {
            line: None,
            column: None,
            message: first.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_document_is_an_input_and_empty_ones_are_skipped() {
        let docs = parse("---\na: 1\n---\n---\n# only a comment\n---\nb: 0644\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": 420})]);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(2)));
        assert!(err.message.contains("indicator"), "{err}");
    }
}
