//! The engine's error type.

use crate::action::ActionError;
use crate::diagnostic::Diagnostic;

/// Everything that can go wrong loading, compiling or querying. Evaluation of an action never
/// returns an error: it fails closed into a `deny` decision instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bundle file is missing, unreadable or malformed.
    #[error("{file}: {message}")]
    Bundle {
        /// The file (or bundle) at fault.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A module does not parse or compile.
    #[error("{0}")]
    Rego(Box<Diagnostic>),
    /// An action document does not match the contract.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// An ad-hoc query failed.
    #[error("{0}")]
    Query(String),
}

impl Error {
    pub(crate) fn bundle(file: &str, message: impl Into<String>) -> Error {
        Error::Bundle {
            file: file.to_owned(),
            message: message.into(),
        }
    }

    /// The diagnostic, for errors located in a policy.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            Error::Rego(d) => Some(d),
            _ => None,
        }
    }
}
