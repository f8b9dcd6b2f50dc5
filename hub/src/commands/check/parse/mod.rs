//! Parsers: configuration files turned into the documents policies see as `input`.
//!
//! Each format lives in its own module and produces what conftest's parser for it produces, so
//! policies written for conftest read the same shapes: YAML and JSON streams become one document
//! per value, a Dockerfile becomes one array of instructions, HCL blocks nest by type and label,
//! and so on. A parser returns every document of a file, or a [`ParseError`] that says where the
//! file stopped making sense.

mod dockerfile;
mod dotenv;
mod hcl;
mod ini;
mod json;
mod jsonc;
mod properties;
mod toml;
mod xml;
mod yaml;

use std::path::Path;

use serde_json::Value as Json;

use crate::cli::CheckParser;

/// Why a file could not be parsed, and where (1-based line and column, when the parser knows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ParseError {
    /// 1-based line of the problem.
    pub line: Option<usize>,
    /// 1-based column of the problem.
    pub column: Option<usize>,
    /// What is wrong, without the position.
    pub message: String,
}

impl ParseError {
    /// An error at a known line and column.
    pub(crate) fn at(line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error on a known line.
    pub(crate) fn on_line(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: Some(line),
            column: None,
            message: message.into(),
        }
    }

    /// An error at a byte offset of `text`.
    pub(crate) fn at_offset(text: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = position(text, offset);
        ParseError::at(line, column, message)
    }

    /// `line:column` or `line`, for messages; empty when the position is unknown.
    pub(crate) fn position(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{l}:{c}"),
            (Some(l), None) => l.to_string(),
            _ => String::new(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The parser conftest would choose for a file name, if any. Files without an extension are
/// read as YAML, as conftest does.
pub(crate) fn parser_for(path: &Path) -> Option<CheckParser> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_owned())
        .unwrap_or_default();
    if name == "dockerfile" || name.starts_with("dockerfile.") || ext == "dockerfile" {
        return Some(CheckParser::Dockerfile);
    }
    if name == ".env" || name.starts_with(".env.") || ext == "env" {
        return Some(CheckParser::Dotenv);
    }
    Some(match ext.as_str() {
        "" => CheckParser::Yaml,
        "yaml" | "yml" => CheckParser::Yaml,
        "json" | "ndjson" => CheckParser::Json,
        "jsonc" => CheckParser::Jsonc,
        "toml" => CheckParser::Toml,
        "ini" => CheckParser::Ini,
        "hcl" | "tf" | "tfvars" => CheckParser::Hcl2,
        "xml" => CheckParser::Xml,
        "properties" => CheckParser::Properties,
        _ => return None,
    })
}

/// Whether a file found while walking a directory should be checked: a recognised name with an
/// extension (or a Dockerfile or `.env` file). Extensionless files are only read when named.
pub(crate) fn recognised_in_directory(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let named = name == "dockerfile" || name.starts_with("dockerfile.") || name == ".env";
    (named || name.contains('.')) && parser_for(path).is_some()
}

/// The name conftest uses for a parser (`--parser` values).
pub(crate) fn name(parser: CheckParser) -> &'static str {
    match parser {
        CheckParser::Yaml => "YAML",
        CheckParser::Json => "JSON",
        CheckParser::Jsonc => "JSON with comments",
        CheckParser::Toml => "TOML",
        CheckParser::Ini => "INI",
        CheckParser::Dotenv => "dotenv",
        CheckParser::Hcl2 => "HCL",
        CheckParser::Dockerfile => "a Dockerfile",
        CheckParser::Xml => "XML",
        CheckParser::Properties => "Java properties",
    }
}

/// Parses `text` into its documents.
pub(crate) fn parse(parser: CheckParser, text: &str) -> Result<Vec<Json>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match parser {
        CheckParser::Yaml => yaml::parse(text),
        CheckParser::Json => json::parse(text),
        CheckParser::Jsonc => jsonc::parse(text),
        CheckParser::Toml => toml::parse(text).map(|v| vec![v]),
        CheckParser::Ini => ini::parse(text).map(|v| vec![v]),
        CheckParser::Dotenv => dotenv::parse(text).map(|v| vec![v]),
        CheckParser::Hcl2 => hcl::parse(text).map(|v| vec![v]),
        CheckParser::Dockerfile => dockerfile::parse(text).map(|v| vec![v]),
        CheckParser::Xml => xml::parse(text).map(|v| vec![v]),
        CheckParser::Properties => properties::parse(text).map(|v| vec![v]),
    }
}

/// The parser for stdin when none is given: JSON when the text looks like JSON, else YAML.
pub(crate) fn detect(text: &str) -> CheckParser {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if (start.starts_with('{') || start.starts_with('['))
        && json::parse(text).is_ok_and(|docs| !docs.is_empty())
    {
        CheckParser::Json
    } else {
        CheckParser::Yaml
    }
}

/// A number the way Go's `strconv.ParseFloat` reads it (finite values only), as JSON: integral
/// values become integers so `1` stays `1`.
pub(crate) fn number(text: &str) -> Option<Json> {
    let t = text.trim();
    if t.is_empty()
        || t.chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Json::from(i));
    }
    let f = t.parse::<f64>().ok().filter(|f| f.is_finite())?;
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Json::from(f as i64));
    }
    serde_json::Number::from_f64(f).map(Json::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parsers_are_chosen_by_name_as_conftest_does() {
        let cases = [
            ("deploy.yaml", Some(CheckParser::Yaml)),
            ("x/Dockerfile", Some(CheckParser::Dockerfile)),
            ("Dockerfile.debug", Some(CheckParser::Dockerfile)),
            ("dev.Dockerfile", Some(CheckParser::Dockerfile)),
            (".env", Some(CheckParser::Dotenv)),
            (".env.prod", Some(CheckParser::Dotenv)),
            ("prod.env", Some(CheckParser::Dotenv)),
            ("main.tf", Some(CheckParser::Hcl2)),
            ("events.ndjson", Some(CheckParser::Json)),
            ("settings.jsonc", Some(CheckParser::Jsonc)),
            ("app.properties", Some(CheckParser::Properties)),
            ("README", Some(CheckParser::Yaml)),
            ("notes.txt", None),
        ];
        for (file, want) in cases {
            assert_eq!(parser_for(Path::new(file)), want, "{file}");
        }
        assert!(!recognised_in_directory(Path::new("LICENSE")));
        assert!(recognised_in_directory(Path::new("Dockerfile")));
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        assert_eq!(position("ab\ncd", 0), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn numbers_read_like_go_parse_float() {
        assert_eq!(number("1"), Some(Json::from(1)));
        assert_eq!(number("1.50"), Some(Json::from(1.5)));
        assert_eq!(number("1e3"), Some(Json::from(1000)));
        assert_eq!(number("inf"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("12ab"), None);
    }

    #[test]
    fn stdin_is_detected_as_json_or_yaml() {
        assert_eq!(detect("{\"a\": 1}"), CheckParser::Json);
        assert_eq!(detect("a: 1\n"), CheckParser::Yaml);
        assert_eq!(detect("[a, b]\n"), CheckParser::Yaml);
    }
}
