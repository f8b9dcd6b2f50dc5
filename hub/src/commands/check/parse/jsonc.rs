//! JSON with comments (`//` and `/* */`) and trailing commas, as VS Code settings files use.
//!
//! Comments and trailing commas are blanked out in place, so positions in errors still point
//! into the original text.

use serde_json::Value as Json;

use super::ParseError;

pub(super) fn parse(text: &str) -> Result<Vec<Json>, ParseError> {
    let plain = strip(text)?;
    super::json::parse(&plain)
}

/// Replaces comments and trailing commas with spaces (keeping newlines).
fn strip(text: &str) -> Result<String, ParseError> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in out.iter_mut().take(to).skip(from) {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    let mut last_comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes.get(i..i + 2) {
            Some(b"//") => {
                let end = bytes
                    .iter()
                    .skip(i)
                    .position(|b| *b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                blank(&mut out, i, end);
                i = end;
                continue;
            }
            Some(b"/*") => {
                let Some(close) = text.get(i + 2..).and_then(|rest| rest.find("*/")) else {
                    return Err(ParseError::at_offset(
                        text,
                        i,
                        "this block comment is never closed",
                    ));
                };
                let end = i + 2 + close + 2;
                blank(&mut out, i, end);
                i = end;
                continue;
            }
            _ => {}
        }
        match bytes.get(i) {
            Some(b'"') => {
                last_comma = None;
                i += 1;
                while let Some(b) = bytes.get(i) {
                    match b {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            Some(b',') => last_comma = Some(i),
            Some(b'}' | b']') => {
                if let Some(comma) = last_comma.take() {
                    blank(&mut out, comma, comma + 1);
                }
            }
            Some(b) if b.is_ascii_whitespace() => {}
            _ => last_comma = None,
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ParseError {
        line: None,
        column: None,
        message: "the file is not valid UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_and_trailing_commas_are_allowed() {
        let text = "{\n  // editor\n  \"tabSize\": 2, /* spaces */\n  \"url\": \"http://x//y\",\n  \"list\": [1, 2,],\n}\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![json!({"tabSize": 2, "url": "http://x//y", "list": [1, 2]})]
        );
    }

    #[test]
    fn errors_point_into_the_original_text() {
        let err = parse("{\n  // c\n  \"a\" 1\n}").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(parse("/* open").is_err());
    }
}
