//! The bare repository of one project: opening or creating it, reading `main` and the files at a
//! commit, and committing a set of changes to `main` as one compare-and-swap step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gix::ObjectId;
use gix::bstr::BString;
use gix::objs::tree::EntryKind;
use gix::refs::Target;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::Error;

/// The one branch a hosted repository has; `HEAD` points at it.
pub const MAIN_BRANCH: &str = "refs/heads/main";

/// Who wrote a commit and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The author's display name.
    pub name: String,
    /// The author's email address.
    pub email: String,
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// The author's offset from UTC, in seconds (east positive).
    pub offset_seconds: i32,
}

/// What [`HostedRepo::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new commit is on `main`.
    Committed {
        /// The new commit's id (hex).
        commit: String,
        /// The commit it follows, if any.
        parent: Option<String>,
        /// The paths that were written or deleted, sorted.
        changed: Vec<String>,
    },
    /// Every change matched what `main` already had: no commit was made.
    Unchanged {
        /// Where `main` is (and stays).
        head: Option<String>,
    },
}

/// A project's bare repository. Cheap to share between threads; commits are serialised.
pub struct HostedRepo {
    repo: gix::ThreadSafeRepository,
    path: PathBuf,
    commit_lock: Mutex<()>,
}

impl std::fmt::Debug for HostedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedRepo")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// At most this many path components in a committed file's path.
const MAX_PATH_DEPTH: usize = 64;
/// At most this many bytes in a committed file's path.
const MAX_PATH_BYTES: usize = 4096;

impl HostedRepo {
    /// Opens the bare repository at `path`, creating it (with `HEAD` on `main`) if the directory
    /// does not exist or is empty. No configuration outside the repository is read.
    pub fn open_or_init(path: &Path) -> Result<HostedRepo, Error> {
        let options = gix::open::Options::isolated();
        let repo = if path.join("HEAD").is_file() {
            gix::ThreadSafeRepository::open_opts(path, options)
                .map_err(Error::storage("the repository could not be opened"))?
        } else {
            let create = gix::create::Options {
                object_hash: Some(gix::hash::Kind::Sha1),
                ..Default::default()
            };
            gix::ThreadSafeRepository::init_opts(path, gix::create::Kind::Bare, create, options)
                .map_err(Error::storage("the repository could not be created"))?
        };
        let hosted = HostedRepo {
            repo,
            path: path.to_owned(),
            commit_lock: Mutex::new(()),
        };
        let local = hosted.local();
        if local.object_hash() != gix::hash::Kind::Sha1 {
            return Err(Error::Storage {
                context: "the repository cannot be served",
                detail: "it uses SHA-256 object ids; hosted repositories use SHA-1".into(),
            });
        }
        if local.workdir().is_some() {
            return Err(Error::Storage {
                context: "the repository cannot be served",
                detail: format!("{} is not a bare repository", path.display()),
            });
        }
        Ok(hosted)
    }

    /// Where the repository lives on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The commit `main` points at, as hex, or `None` before the first commit.
    pub fn head(&self) -> Result<Option<String>, Error> {
        Ok(main_id(&self.local())?.map(|id| id.to_string()))
    }

    /// The files at `commit` (or at `main` when `None`), path → content. Empty before the first
    /// commit.
    pub fn files(&self, commit: Option<&str>) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let repo = self.local();
        let id = match commit {
            Some(hex) => Some(parse_commit_id(&repo, hex)?),
            None => main_id(&repo)?,
        };
        let mut files = BTreeMap::new();
        let Some(id) = id else { return Ok(files) };
        let tree = commit_tree(&repo, id)?;
        let mut stack = vec![(String::new(), tree)];
        while let Some((prefix, tree)) = stack.pop() {
            let object = repo
                .find_object(tree)
                .map_err(Error::storage("a tree could not be read"))?;
            let decoded = gix::objs::TreeRef::from_bytes(&object.data, repo.object_hash())
                .map_err(Error::storage("a tree could not be decoded"))?;
            for entry in decoded.entries {
                let name = String::from_utf8_lossy(entry.filename);
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if entry.mode.is_tree() {
                    stack.push((path, entry.oid.to_owned()));
                } else if entry.mode.is_blob_or_symlink() {
                    let blob = repo
                        .find_object(entry.oid)
                        .map_err(Error::storage("a file could not be read"))?;
                    files.insert(path, blob.detach().data);
                }
            }
        }
        Ok(files)
    }

    /// Commits `changes` (path → `Some(content)` to write, `None` to delete) to `main` on top of
    /// `expected_parent`, as one commit by `author` with `message`.
    ///
    /// If `main` is not at `expected_parent`, nothing changes and the answer is
    /// [`Error::Conflict`]. Only changed files produce new objects; if no file changes, no commit
    /// is made ([`CommitOutcome::Unchanged`]). `main` moves in one atomic reference update, so
    /// any failure leaves it at its previous commit.
    pub fn commit(
        &self,
        changes: &BTreeMap<String, Option<Vec<u8>>>,
        author: &Signature,
        message: &str,
        expected_parent: Option<&str>,
    ) -> Result<CommitOutcome, Error> {
        for path in changes.keys() {
            validate_path(path)?;
        }
        validate_nesting(changes)?;
        let signature = to_gix_signature(author)?;
        let message = commit_message(message)?;

        let _serialised = self
            .commit_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let repo = self.local();
        let current = main_id(&repo)?;
        let expected = match expected_parent {
            Some(hex) => Some(parse_id(hex)?),
            None => None,
        };
        if current != expected {
            return Err(conflict(expected, current));
        }
        let base_tree = match current {
            Some(id) => commit_tree(&repo, id)?,
            None => ObjectId::empty_tree(repo.object_hash()),
        };
        let base = repo
            .find_tree(base_tree)
            .map_err(Error::storage("the current tree could not be read"))?;
        let mut editor = repo
            .edit_tree(base_tree)
            .map_err(Error::storage("the current tree could not be edited"))?;
        let mut changed = Vec::new();
        // Deletions first, so that a file can be replaced by a directory of the same name.
        for (path, _) in changes.iter().filter(|(_, c)| c.is_none()) {
            let existing = base
                .lookup_entry(path.split('/'))
                .map_err(Error::storage("the current tree could not be read"))?;
            let Some(existing) = existing else { continue };
            if existing.mode().is_tree() {
                return Err(Error::InvalidPath {
                    path: path.clone(),
                    reason: "it is a directory; delete the files in it instead",
                });
            }
            editor
                .remove(path.as_str())
                .map_err(Error::storage("a file could not be removed from the tree"))?;
            changed.push(path.clone());
        }
        for (path, content) in changes {
            let Some(content) = content else { continue };
            let id = gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, content)
                .map_err(Error::storage("a file could not be hashed"))?;
            let existing = base
                .lookup_entry(path.split('/'))
                .map_err(Error::storage("the current tree could not be read"))?;
            if existing
                .as_ref()
                .is_some_and(|e| e.object_id() == id && e.mode().kind() == EntryKind::Blob)
            {
                continue;
            }
            repo.write_blob(content)
                .map_err(Error::storage("a file could not be written"))?;
            editor
                .upsert(path.as_str(), EntryKind::Blob, id)
                .map_err(Error::storage("a file could not be added to the tree"))?;
            changed.push(path.clone());
        }
        if changed.is_empty() {
            return Ok(CommitOutcome::Unchanged {
                head: current.map(|id| id.to_string()),
            });
        }
        let tree = editor
            .write()
            .map_err(Error::storage("the new tree could not be written"))?
            .detach();
        if tree == base_tree {
            return Ok(CommitOutcome::Unchanged {
                head: current.map(|id| id.to_string()),
            });
        }
        if tree.is_empty_tree() {
            // Clients must find every tree a commit names, even the empty one.
            repo.write_object(gix::objs::Tree::empty())
                .map_err(Error::storage("the empty tree could not be written"))?;
        }
        let commit = gix::objs::Commit {
            tree,
            parents: current.into_iter().collect(),
            author: signature.clone(),
            committer: signature.clone(),
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        let commit_id = repo
            .write_object(&commit)
            .map_err(Error::storage("the commit could not be written"))?
            .detach();
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: reflog_message(&commit.message),
                },
                expected: match current {
                    Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
                    None => PreviousValue::MustNotExist,
                },
                new: Target::Object(commit_id),
            },
            name: gix::refs::FullName::try_from(MAIN_BRANCH).map_err(|e| Error::Storage {
                context: "the branch name is invalid",
                detail: e.to_string(),
            })?,
            deref: false,
        };
        let mut time = gix::date::parse::TimeBuf::default();
        if let Err(e) = repo.edit_references_as([edit], Some(signature.to_ref(&mut time))) {
            // Another writer (another process) may have moved main between the check and the
            // update: report that as the conflict it is.
            let now = main_id(&repo)?;
            if now != current {
                return Err(conflict(current, now));
            }
            return Err(Error::storage("main could not be updated")(e));
        }
        changed.sort();
        Ok(CommitOutcome::Committed {
            commit: commit_id.to_string(),
            parent: current.map(|id| id.to_string()),
            changed,
        })
    }

    /// A handle for the calling thread.
    pub(crate) fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }
}

/// Where `main` points, if it exists.
pub(crate) fn main_id(repo: &gix::Repository) -> Result<Option<ObjectId>, Error> {
    let reference = repo
        .try_find_reference(MAIN_BRANCH)
        .map_err(Error::storage("main could not be read"))?;
    Ok(reference.and_then(|r| r.try_id().map(gix::Id::detach)))
}

/// The tree of the commit `id`.
pub(crate) fn commit_tree(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId, Error> {
    let object = repo
        .find_object(id)
        .map_err(Error::storage("a commit could not be read"))?;
    if object.kind != gix::objs::Kind::Commit {
        return Err(Error::UnknownCommit(id.to_string()));
    }
    let commit = gix::objs::CommitRef::from_bytes(&object.data, repo.object_hash())
        .map_err(Error::storage("a commit could not be decoded"))?;
    Ok(commit.tree())
}

/// Parses a full hex object id.
pub(crate) fn parse_id(hex: &str) -> Result<ObjectId, Error> {
    if hex.len() != 40 {
        return Err(Error::UnknownCommit(hex.to_owned()));
    }
    ObjectId::from_hex(hex.as_bytes()).map_err(|_| Error::UnknownCommit(hex.to_owned()))
}

fn parse_commit_id(repo: &gix::Repository, hex: &str) -> Result<ObjectId, Error> {
    let id = parse_id(hex)?;
    match repo.try_find_object(id) {
        Ok(Some(o)) if o.kind == gix::objs::Kind::Commit => Ok(id),
        Ok(_) => Err(Error::UnknownCommit(hex.to_owned())),
        Err(e) => Err(Error::storage("a commit could not be read")(e)),
    }
}

fn conflict(expected: Option<ObjectId>, found: Option<ObjectId>) -> Error {
    let show =
        |id: Option<ObjectId>| id.map_or_else(|| "no commit".to_owned(), |id| id.to_string());
    Error::Conflict {
        expected: show(expected),
        found: show(found),
    }
}

/// Refuses paths that Git or a checkout would treat specially or that escape the tree.
fn validate_path(path: &str) -> Result<(), Error> {
    let refuse = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if path.is_empty() {
        return refuse("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return refuse("it is longer than 4096 bytes");
    }
    if path.starts_with('/') {
        return refuse("it is absolute; paths are relative to the repository root");
    }
    if path.contains('\\') {
        return refuse("it contains a backslash; separate directories with '/'");
    }
    if path.bytes().any(|b| b == 0 || b.is_ascii_control()) {
        return refuse("it contains a control character");
    }
    let mut depth = 0;
    for component in path.split('/') {
        depth += 1;
        match component {
            "" => return refuse("it has an empty component (a doubled or trailing '/')"),
            "." | ".." => return refuse("it has a '.' or '..' component"),
            c if c.eq_ignore_ascii_case(".git") => {
                return refuse("it has a '.git' component");
            }
            _ => {}
        }
    }
    if depth > MAX_PATH_DEPTH {
        return refuse("it is nested more than 64 directories deep");
    }
    Ok(())
}

/// Refuses a change set that writes both a file and something below it.
fn validate_nesting(changes: &BTreeMap<String, Option<Vec<u8>>>) -> Result<(), Error> {
    for (path, content) in changes {
        if content.is_none() {
            continue;
        }
        let mut prefix = String::new();
        for component in path.split('/') {
            if !prefix.is_empty() {
                if matches!(changes.get(&prefix), Some(Some(_))) {
                    return Err(Error::InvalidPath {
                        path: path.clone(),
                        reason: "a parent directory of it is written as a file in the same commit",
                    });
                }
                prefix.push('/');
            }
            prefix.push_str(component);
        }
    }
    Ok(())
}

fn to_gix_signature(author: &Signature) -> Result<gix::actor::Signature, Error> {
    let bad = |field: &str| {
        Error::InvalidCommit(format!(
            "the author {field} must not be empty or contain '<', '>' or line breaks"
        ))
    };
    let clean = |s: &str| !s.trim().is_empty() && !s.contains(['<', '>', '\n', '\r', '\0']);
    if !clean(&author.name) {
        return Err(bad("name"));
    }
    if !clean(&author.email) {
        return Err(bad("email"));
    }
    if author.offset_seconds.unsigned_abs() >= 24 * 3600 {
        return Err(Error::InvalidCommit(
            "the author's UTC offset must be less than a day".into(),
        ));
    }
    Ok(gix::actor::Signature {
        name: author.name.trim().into(),
        email: author.email.trim().into(),
        time: gix::date::Time {
            seconds: author.seconds,
            offset: author.offset_seconds,
        },
    })
}

fn commit_message(message: &str) -> Result<String, Error> {
    if message.trim().is_empty() {
        return Err(Error::InvalidCommit("the message must not be empty".into()));
    }
    if message.contains('\0') {
        return Err(Error::InvalidCommit(
            "the message must not contain NUL bytes".into(),
        ));
    }
    let mut message = message.to_owned();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    Ok(message)
}

fn reflog_message(message: &BString) -> BString {
    let first = message.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut out = BString::from("commit: ");
    out.extend_from_slice(first);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "./a",
            "a//b",
            "a/",
            ".git/config",
            "x/.GIT/hooks",
            "a\\b",
            "a\nb",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(validate_path("tenants/acme/production/web/deployment.yaml").is_ok());
        assert!(validate_path(".gitignore").is_ok());
    }

    #[test]
    fn a_file_and_a_file_below_it_cannot_be_written_together() {
        let mut changes = BTreeMap::new();
        changes.insert("a".to_owned(), Some(vec![1]));
        changes.insert("a/b".to_owned(), Some(vec![2]));
        assert!(validate_nesting(&changes).is_err());
        changes.insert("a".to_owned(), None);
        assert!(validate_nesting(&changes).is_ok());
    }
}
