//! Diagnostics: Rego errors as file, line, column, the offending text and a hint.
//!
//! regorus reports errors as text of the form `--> file:line:col`, the source line, a caret and
//! `error: message`. This module turns that into a [`Diagnostic`] and adds what the user should
//! do next, notably when Rego v0 text is read as v1 (the default since OPA 1.0).

use std::fmt;

use serde::Serialize;

/// A located error in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// File the error is in (as named in the bundle).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
    /// The source line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )?;
        if let Some(snippet) = &self.snippet {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                "",
                self.line,
                snippet,
                "",
                "^",
                col = self.col as usize
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

/// Parses regorus's error text. Returns `None` when the text carries no location.
pub fn parse_located(text: &str) -> Option<Diagnostic> {
    let arrow = text.find("--> ")?;
    let rest = text.get(arrow + 4..)?;
    let loc = rest.lines().next()?.trim();
    // file may itself contain ':'; the last two fields are line and column.
    let mut parts = loc.rsplitn(3, ':');
    let col: u32 = parts.next()?.trim().parse().ok()?;
    let line: u32 = parts.next()?.trim().parse().ok()?;
    let file = parts.next()?.to_owned();
    let message = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_owned());
    let prefix = format!("{line} | ");
    let snippet = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned);
    Some(Diagnostic {
        file,
        line,
        col,
        message,
        snippet,
        hint: None,
    })
}

/// Builds a diagnostic for a parse failure of `source` (named `file`), adding a hint.
pub fn from_parse_error(file: &str, source: &str, text: &str, rego_v1: bool) -> Diagnostic {
    let mut d = parse_located(text).unwrap_or_else(|| Diagnostic {
        file: file.to_owned(),
        line: 1,
        col: 1,
        message: text.trim().to_owned(),
        snippet: None,
        hint: None,
    });
    if d.snippet.is_none() {
        d.snippet = source
            .lines()
            .nth(d.line.saturating_sub(1) as usize)
            .map(str::to_owned);
    }
    d.hint = hint(&d, source, rego_v1);
    d
}

fn hint(d: &Diagnostic, source: &str, rego_v1: bool) -> Option<String> {
    let m = d.message.as_str();
    if rego_v1 && looks_like_v0(source) {
        let example = v0_rewrite_example(d.snippet.as_deref().unwrap_or(""));
        return Some(format!(
            "this looks like Rego v0 syntax, but policies are read as Rego v1 by default. Either mark the file as v0 \
             (add it to `file_rego_versions` in the bundle's .manifest, e.g. {{\"file_rego_versions\": {{\"{file}\": 0}}}}, or pass --v0), \
             or update it to v1: {example}",
            file = d.file
        ));
    }
    if m.contains("could not find function") {
        return Some(
            "check the spelling, or that the package defining the function is loaded (-d)".into(),
        );
    }
    if m.contains("expecting") || m.contains("unexpected") {
        return Some(
            "check for a missing operator, bracket or quote just before this position".into(),
        );
    }
    if m.contains("rule conflicts") || m.contains("conflict") {
        return Some("two rules of the same name produce different values; make them exclusive or use `contains` for a set".into());
    }
    None
}

/// Heuristics for Rego v0 text: partial rules with brackets and rule bodies without `if`.
pub fn looks_like_v0(source: &str) -> bool {
    let v0_head = regex_lite_match(source);
    let has_v1_markers =
        source.contains(" contains ") || source.contains(" if ") || source.contains(" if{");
    v0_head || (!has_v1_markers && source.contains(" {\n"))
}

fn regex_lite_match(source: &str) -> bool {
    source.lines().any(|l| {
        let t = l.trim_start();
        let name_end = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(t.len());
        if name_end == 0
            || t.starts_with("package")
            || t.starts_with("import")
            || t.starts_with('#')
        {
            return false;
        }
        let rest = t.get(name_end..).unwrap_or_default();
        // `deny[msg] {`  or  `allow {`
        (rest.starts_with('[') && rest.trim_end().ends_with('{') && !rest.contains(" if"))
            || rest.trim() == "{"
    })
}

fn v0_rewrite_example(snippet: &str) -> String {
    let t = snippet.trim();
    if let Some(open) = t.find('[')
        && let Some(close) = t.find(']')
        && t.ends_with('{')
        && open < close
    {
        let name = t.get(..open).unwrap_or_default();
        let var = t.get(open + 1..close).unwrap_or_default();
        return format!("write `{name}[{var}] {{` as `{name} contains {var} if {{`");
    }
    if let Some(head) = t.strip_suffix('{') {
        return format!("write `{}{{` as `{} if {{`", head, head.trim_end());
    }
    "add `if` before rule bodies and `contains` to partial set rules".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_regorus_error_text() {
        let text = "\n--> b.rego:4:14\n  |\n4 |   input.a == = 1\n  |              ^\nerror: expecting expression";
        let d = parse_located(text).unwrap();
        assert_eq!((d.file.as_str(), d.line, d.col), ("b.rego", 4, 14));
        assert_eq!(d.message, "expecting expression");
        assert_eq!(d.snippet.as_deref(), Some("  input.a == = 1"));
    }

    #[test]
    fn v0_text_read_as_v1_gets_a_v0_hint_with_the_rewrite() {
        let source = "package x\n\ndeny[msg] {\n  input.a == 1\n  msg := \"no\"\n}\n";
        let text = "\n--> a.rego:3:11\n  |\n3 | deny[msg] {\n  |           ^\nerror: `if` keyword is required before rule body";
        let d = from_parse_error("a.rego", source, text, true);
        let hint = d.hint.unwrap();
        assert!(hint.contains("Rego v0"), "{hint}");
        assert!(hint.contains("deny contains msg if {"), "{hint}");
        assert!(hint.contains("file_rego_versions"), "{hint}");
    }

    #[test]
    fn display_shows_location_snippet_caret_and_hint() {
        let d = Diagnostic {
            file: "p.rego".into(),
            line: 12,
            col: 3,
            message: "boom".into(),
            snippet: Some("x := y".into()),
            hint: Some("fix it".into()),
        };
        assert_eq!(
            d.to_string(),
            "p.rego:12:3: boom\n   |\n12 | x := y\n   |   ^\nhint: fix it"
        );
    }
}
