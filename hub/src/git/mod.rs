//! Hosted Git: one bare repository per project, written by the delivery generator and read by
//! Argo CD, Flux and people with `git clone`.
//!
//! [`HostedRepo`] owns the repository on disk: it commits a set of file changes to `main` as
//! one compare-and-swap step and reads the files back at any commit. [`info_refs`] and
//! [`negotiate`] speak the read side of Git's smart HTTP protocol (versions 0, 1 and 2), so the
//! hub's HTTP layer only routes, authenticates and sets content types; pushing
//! (`git-receive-pack`) is never offered. Objects are stored with gix; packs are built here,
//! without deltas, from the objects the client lacks, and written as they are sent
//! ([`Answer::write_to`]), so a clone of a large repository does not sit in memory.

mod pack;
mod pkt;
mod repo;
mod upload_pack;

pub use repo::{CommitOutcome, HostedRepo, MAIN_BRANCH, Signature};
pub use upload_pack::{
    ADVERTISEMENT_CONTENT_TYPE, Answer, MAX_REQUEST_BYTES, RESULT_CONTENT_TYPE, check_service,
    decode_gzip, info_refs, negotiate, upload_pack,
};

/// Everything that can go wrong in the hosted repositories and in serving them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file path in a commit cannot be stored as it is.
    #[error("the path {path:?} cannot be committed: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An author name, email or message cannot be written into a commit.
    #[error("the commit cannot be written: {0}")]
    InvalidCommit(String),
    /// `main` is not where the caller expected it: nothing was changed.
    #[error(
        "main is at {found} but the commit expected it at {expected}; nothing was committed: reload the repository state and try again"
    )]
    Conflict {
        /// The commit the caller expected `main` at (or "no commit").
        expected: String,
        /// The commit `main` is actually at (or "no commit").
        found: String,
    },
    /// A commit id that is malformed or not a commit of this repository.
    #[error("{0:?} is not a commit of this repository")]
    UnknownCommit(String),
    /// The client sent something the protocol does not allow, or this server does not offer.
    #[error("git protocol error: {0}")]
    Protocol(String),
    /// A request exceeded one of the bounds that keep the server safe.
    #[error("git request refused: {0}")]
    TooLarge(String),
    /// The client asked for a service other than upload-pack (pushing is not offered).
    #[error(
        "the service {0:?} is not offered: hosted repositories are read-only over HTTP (use git-upload-pack to clone and fetch)"
    )]
    ServiceRefused(String),
    /// The repository on disk could not be read or written.
    #[error("{context}: {detail}")]
    Storage {
        /// What was being done.
        context: &'static str,
        /// What gix reported, with its causes.
        detail: String,
    },
}

impl Error {
    /// Whether the error is the client's fault (a bad request) rather than the server's.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Error::Storage { .. })
    }

    pub(crate) fn storage(context: &'static str) -> impl FnOnce(gix::Error) -> Error {
        move |e| Error::Storage {
            context,
            detail: format!("{e:#}"),
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Error {
        Error::Protocol(message.into())
    }
}
