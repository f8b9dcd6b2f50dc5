//! Parse and execution errors, displayed the way Helm (v4) reports them.
//!
//! An [`Error`] keeps what Go's `text/template` puts in its message (the template, line and
//! column, the template being executed, the node at fault) and, for `include` and `tpl`, the
//! error of the template they ran, so that the chain prints as Helm prints it:
//!
//! - a parse error: `parse error at (mychart/templates/x.yaml:3): function "nope" not defined`;
//! - `fail` or `required`: `execution error at (mychart/templates/x.yaml:3:4): the message`;
//! - an error Go raises itself (a nil pointer, a missing template, a bad argument), including
//!   through `include`: one block per template, as Helm v4 lays it out:
//!   ```text
//!   mychart/templates/x.yaml:3:12
//!     executing "mychart/templates/x.yaml" at <.Values.a.b>:
//!       nil pointer evaluating interface {}.b
//!   ```
//! - an error returned by a function: Go's one-line text, `template: mychart/templates/x.yaml:
//!   3:3: executing "mychart/templates/x.yaml" at <index .Values.l 5>: error calling index:
//!   index out of range: 5`.

use std::fmt;

use super::ast::{At, Tree};
use super::quote::go_quote;

/// The name Helm gives the template set; it appears in "no template" messages.
pub(crate) const SET_NAME: &str = "gotpl";

/// What went wrong, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The template text does not parse.
    Parse,
    /// Executing failed: a nil pointer, a wrong argument, a function's error.
    Exec,
    /// `fail` or `required` stopped the render with the chart's own message.
    Fail,
    /// The render went past a limit of its [`Exec`](super::Exec): steps, output, nesting.
    Limit,
    /// No template has the name asked for.
    NotFound,
}

/// A parse or execution error, with what Helm reports.
///
/// `template`, `line` and `column` locate the outermost node at fault (for an error inside an
/// `include`, the `include`); [`Error::cause`] leads to the error of the template it ran.
/// `column` is the byte offset within the line, counted from 0 as Go counts it.
#[derive(Debug, Clone)]
pub struct Error {
    /// The file (or `tpl` text, named `gotpl`) the location is in.
    pub template: String,
    /// The 1-based line.
    pub line: usize,
    /// The byte offset within the line, from 0 (Go's column); 0 for parse errors.
    pub column: usize,
    /// What went wrong, broadly. An error in an `include`d template has the kind of the error
    /// inside when that is `Fail` or `Limit`.
    pub kind: ErrorKind,
    /// What Go says at this level, after the location: `nil pointer evaluating interface {}.b`,
    /// `error calling index: index out of range: 5`, `error calling include`, or for `Fail`
    /// the chart's message.
    pub message: String,
    /// What Go puts around the message, kept out of line to keep `Result`s small.
    more: Box<More>,
}

#[derive(Debug, Clone, Default)]
struct More {
    /// The template being executed (Go's `executing "..."`), empty for parse errors.
    name: String,
    /// The node at fault as Go prints it (the `<...>`), if there is one.
    context: Option<String>,
    /// The function whose error this is, if it is one.
    call: Option<String>,
    /// The error of the template an `include` or `tpl` ran.
    cause: Option<Box<Error>>,
}

impl Error {
    /// A parse error in `parse_name` at `line`.
    pub(crate) fn parse(parse_name: &str, line: usize, message: String) -> Box<Error> {
        Box::new(Error {
            template: parse_name.to_owned(),
            line,
            column: 0,
            kind: ErrorKind::Parse,
            message,
            more: Box::default(),
        })
    }

    /// Go's `template: no template %q associated with template %q`.
    pub(crate) fn no_template(name: &str) -> Box<Error> {
        Box::new(Error {
            template: String::new(),
            line: 0,
            column: 0,
            kind: ErrorKind::NotFound,
            message: format!(
                "no template {} associated with template {}",
                go_quote(name),
                go_quote(SET_NAME)
            ),
            more: Box::default(),
        })
    }

    /// An execution error at the node `at` of `tree`.
    pub(crate) fn exec(tree: &Tree, at: At<'_>, kind: ErrorKind, message: String) -> Box<Error> {
        let (template, line, column, context) = match at.pos() {
            Some(pos) => {
                let (line, column) = tree.source.line_col(pos);
                (
                    tree.source.parse_name.to_string(),
                    line,
                    column,
                    Some(at.context()),
                )
            }
            None => (tree.name.to_string(), 0, 0, None),
        };
        Box::new(Error {
            template,
            line,
            column,
            kind,
            message,
            more: Box::new(More {
                name: tree.name.to_string(),
                context,
                call: None,
                cause: None,
            }),
        })
    }

    /// Marks this as the error of function `name`, wrapping `cause` if there is one.
    pub(crate) fn with_call(
        mut self: Box<Self>,
        name: &str,
        cause: Option<Box<Error>>,
    ) -> Box<Error> {
        self.more.call = Some(name.to_owned());
        if let Some(kind) = cause.as_deref().and_then(Error::root_kind) {
            self.kind = kind;
        }
        self.more.cause = cause;
        self
    }

    /// `Fail` or `Limit` if the chain holds such an error.
    fn root_kind(&self) -> Option<ErrorKind> {
        let mut e = self;
        loop {
            if matches!(e.kind, ErrorKind::Fail | ErrorKind::Limit) {
                return Some(e.kind);
            }
            e = e.more.cause.as_deref()?;
        }
    }

    /// The error of the template that the `include` or `tpl` at fault ran.
    pub fn cause(&self) -> Option<&Error> {
        self.more.cause.as_deref()
    }

    /// The innermost error of the chain (this one if there is no cause).
    pub fn root(&self) -> &Error {
        let mut e = self;
        while let Some(c) = &e.more.cause {
            e = c;
        }
        e
    }

    /// The template being executed when the error happened (Go's `executing "..."`).
    pub fn executing(&self) -> &str {
        &self.more.name
    }

    /// The node at fault as Go prints it (`.Values.a.b`, `include "x" .`), if there is one.
    pub fn context(&self) -> Option<&str> {
        self.more.context.as_deref()
    }

    /// The error's text as Go's `text/template` gives it (Helm prints this when it cannot
    /// reformat it).
    pub fn go_text(&self) -> String {
        let mut s = String::new();
        let mut e = Some(self);
        while let Some(link) = e {
            link.write_level(&mut s);
            e = link.more.cause.as_deref();
            if e.is_some() {
                s.push_str(": ");
            }
        }
        s
    }

    /// Go's text for this level of the chain alone, ending in `: template:` where the cause's
    /// text would follow (enough for Helm's pattern to find where this level ends).
    fn level_text(&self) -> String {
        let mut s = String::new();
        self.write_level(&mut s);
        if self.more.cause.is_some() {
            s.push_str(": template:");
        }
        s
    }

    /// Go's text for this level, without the cause.
    fn write_level(&self, out: &mut String) {
        out.push_str("template: ");
        match self.kind {
            ErrorKind::Parse if self.more.context.is_none() && self.more.name.is_empty() => {
                out.push_str(&self.template);
                out.push(':');
                out.push_str(&self.line.to_string());
                out.push_str(": ");
                out.push_str(&self.message);
                return;
            }
            ErrorKind::NotFound if self.more.name.is_empty() => {
                out.push_str(&self.message);
                return;
            }
            _ => {}
        }
        match &self.more.context {
            Some(ctx) => {
                out.push_str(&self.location());
                out.push_str(": executing ");
                out.push_str(&go_quote(&self.more.name));
                out.push_str(" at <");
                out.push_str(ctx);
                out.push_str(">: ");
            }
            None => {
                out.push_str(&self.more.name);
                out.push_str(": ");
            }
        }
        if self.kind == ErrorKind::Fail
            && self.more.cause.is_none()
            && let Some(call) = &self.more.call
        {
            out.push_str("error calling ");
            out.push_str(call);
            out.push_str(": ");
        }
        out.push_str(&self.message);
    }

    fn location(&self) -> String {
        format!("{}:{}:{}", self.template, self.line, self.column)
    }

    /// The message of a `fail` or `required` anywhere in the chain.
    fn fail_message(&self) -> Option<&str> {
        let mut e = self;
        loop {
            if e.kind == ErrorKind::Fail && e.more.cause.is_none() {
                return Some(&e.message);
            }
            e = e.more.cause.as_deref()?;
        }
    }

    /// Helm v4's layout of a chain of template errors: one block per template, or `None`
    /// when the chain ends in an error that is not the template package's own (Helm then
    /// prints Go's text unchanged).
    fn helm_blocks(&self) -> Option<String> {
        let mut blocks: Vec<String> = Vec::new();
        let mut e = self;
        loop {
            if e.kind == ErrorKind::NotFound && e.more.context.is_none() {
                let text = e.level_text();
                if text.contains('\n') {
                    return None;
                }
                blocks.push(text);
                break;
            }
            e.more.context.as_ref()?;
            let text = e.level_text();
            let (location, function, at, message) = split_exec_text(&text)?;
            blocks.push(format!(
                "{location}\n  executing {function} at {at}:\n    {message}"
            ));
            match (&e.more.call, &e.more.cause) {
                (None, None) => break,
                (Some(call), Some(cause)) if call == "include" => e = cause,
                _ => return None,
            }
        }
        Some(blocks.join("\n"))
    }
}

/// Splits Go's `template: LOC: executing NAME at <CTX>: MSG[ template: ...]` as Helm v4's
/// pattern does (each part as short as it can be).
fn split_exec_text(text: &str) -> Option<(&str, &str, &str, &str)> {
    if text.contains('\n') {
        return None;
    }
    let rest = text.strip_prefix("template: ")?;
    let (location, rest) = split_lazy(rest, ": executing ")?;
    let (function, rest) = split_lazy(rest, " at ")?;
    let (at, rest) = split_lazy(rest, ": ")?;
    if rest.is_empty() {
        return None;
    }
    let end = rest
        .get(1..)
        .and_then(|r| r.find(" template:"))
        .map_or(rest.len(), |i| i + 1);
    Some((location, function, at, rest.get(..end)?))
}

/// The shortest non-empty prefix of `s` followed by `sep`, and what follows `sep`.
fn split_lazy<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let first = s.chars().next()?;
    let from = first.len_utf8();
    let i = s.get(from..)?.find(sep)? + from;
    Some((s.get(..i)?, s.get(i + sep.len()..)?))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::Parse && self.more.context.is_none() && self.more.name.is_empty()
        {
            // Helm's cleanupParseError: the location, and the last part of Go's message.
            let text = self.go_text();
            let parts: Vec<&str> = text.split(": ").collect();
            return match (parts.get(1), parts.last()) {
                (Some(location), Some(last)) if parts.len() > 1 => {
                    write!(f, "parse error at ({location}): {last}")
                }
                _ => write!(f, "parse error in ({}): {text}", self.template),
            };
        }
        if let Some(message) = self.fail_message() {
            let location = match &self.more.context {
                Some(_) => self.location(),
                None => self.more.name.clone(),
            };
            return write!(f, "execution error at ({location}): {message}");
        }
        match self.helm_blocks() {
            Some(blocks) => f.write_str(&blocks),
            None => f.write_str(&self.go_text()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.more
            .cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_helms_pattern() {
        let t = r#"template: a/x.yaml:2:4: executing "a/x.yaml" at <include "a" .>: error calling include: template: a/_h.tpl:2:10: executing "a" at <.b>: boom"#;
        let (loc, name, at, msg) = split_exec_text(t).unwrap_or_default();
        assert_eq!(loc, "a/x.yaml:2:4");
        assert_eq!(name, "\"a/x.yaml\"");
        assert_eq!(at, "<include \"a\" .>");
        assert_eq!(msg, "error calling include:");
    }
}
