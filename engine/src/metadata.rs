//! Package metadata from OPA-style `# METADATA` annotations.
//!
//! A policy declares what it is about in the annotation block just above its `package`
//! statement, in YAML, exactly as OPA reads it:
//!
//! ```rego
//! # METADATA
//! # title: Production containers need resource limits
//! # custom:
//! #   kinds: [render, release.deploy]
//! #   severity: high
//! #   input: action
//! package gatehouse.k8s.resource_limits
//! ```
//!
//! `custom.kinds` limits the action kinds the policy runs for, `custom.severity` is the default
//! severity of its findings and `custom.input` chooses how it sees `input` (see
//! [`InputMode`]). Everything is optional.

use serde::Deserialize;

use crate::action::ActionKind;
use crate::binding::InputMode;
use crate::decision::Severity;

/// What a package's annotations declare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageMetadata {
    /// Human title.
    pub title: Option<String>,
    /// Longer description.
    pub description: Option<String>,
    /// Action kinds the policy runs for (empty: all).
    pub kinds: Vec<ActionKind>,
    /// Default severity of findings.
    pub severity: Option<Severity>,
    /// How the policy sees `input`.
    pub input: Option<InputMode>,
}

#[derive(Deserialize)]
struct Raw {
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    custom: Custom,
}

#[derive(Deserialize, Default)]
struct Custom {
    #[serde(default)]
    kinds: Vec<String>,
    severity: Option<String>,
    input: Option<String>,
}

/// Reads the annotation block preceding `package` in a module's source. Returns the metadata
/// and, for a malformed block, a message naming the line.
pub fn parse(source: &str) -> Result<PackageMetadata, String> {
    let lines: Vec<&str> = source.lines().collect();
    let Some(pkg) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("package "))
    else {
        return Ok(PackageMetadata::default());
    };
    // Walk up over the contiguous comment block above `package`.
    let mut start = pkg;
    while start > 0
        && lines
            .get(start - 1)
            .is_some_and(|l| l.trim_start().starts_with('#'))
    {
        start -= 1;
    }
    let block = lines.get(start..pkg).unwrap_or_default();
    let Some(marker) = block.iter().rposition(|l| l.trim() == "# METADATA") else {
        return Ok(PackageMetadata::default());
    };
    let yaml: String = block
        .iter()
        .skip(marker + 1)
        .map(|l| {
            let t = l.trim_start().trim_start_matches('#');
            t.strip_prefix(' ').unwrap_or(t)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let line = start + marker + 1;
    let raw: Raw =
        crate::yaml::from_str(&yaml).map_err(|e| format!("METADATA block at line {line}: {e}"))?;
    let mut kinds = Vec::new();
    for k in raw.custom.kinds {
        kinds.push(ActionKind::parse(&k).ok_or_else(|| {
            format!(
                "METADATA block at line {line}: unknown action kind `{k}` in custom.kinds; known kinds: {}",
                ActionKind::ALL.map(|k| k.as_str()).join(", ")
            )
        })?);
    }
    let severity = match raw.custom.severity {
        None => None,
        Some(s) => Some(Severity::parse(&s).ok_or_else(|| {
            format!("METADATA block at line {line}: severity `{s}` is not one of critical, high, medium, low, info")
        })?),
    };
    let input = match raw.custom.input.as_deref() {
        None => None,
        Some("action") => Some(InputMode::Action),
        Some("object") => Some(InputMode::Object),
        Some(other) => {
            return Err(format!(
                "METADATA block at line {line}: custom.input `{other}` must be `action` or `object`"
            ));
        }
    };
    Ok(PackageMetadata {
        title: raw.title,
        description: raw.description,
        kinds,
        severity,
        input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_title_kinds_severity_input() {
        let m = parse(
            "# leading comment\n\n# METADATA\n# title: Limits\n# custom:\n#   kinds: [render, release.deploy]\n#   severity: high\n#   input: object\npackage a.b\n",
        )
        .unwrap();
        assert_eq!(m.title.as_deref(), Some("Limits"));
        assert_eq!(m.kinds, vec![ActionKind::Render, ActionKind::ReleaseDeploy]);
        assert_eq!(m.severity, Some(Severity::High));
        assert_eq!(m.input, Some(InputMode::Object));
    }

    #[test]
    fn no_block_is_empty_metadata() {
        assert_eq!(
            parse("package x\n# METADATA\n# title: rule-level\np := 1\n").unwrap(),
            PackageMetadata::default()
        );
    }

    #[test]
    fn unknown_kind_is_an_error_naming_the_line() {
        let err = parse("# METADATA\n# custom:\n#   kinds: [deploy]\npackage x\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("deploy"), "{err}");
    }
}
