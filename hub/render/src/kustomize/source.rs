//! Read-only file trees a build reads from, and the path arithmetic that keeps every read inside
//! the tree: relative paths with `/`, `..` resolved lexically, nothing above the root.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::Error;

/// A read-only file tree addressed by relative paths with `/` separators (`""` is the root).
///
/// The hub builds from a Git tree or an upload ([`MemSource`]), the CLI from disk
/// ([`DirSource`]). Paths handed to a source are already normalised: no `.` or `..` segments,
/// no leading `/`.
pub trait Source {
    /// The bytes of the file at `path`, or `None` when there is no such file.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Whether `path` names a directory.
    fn is_dir(&self, path: &str) -> bool;
    /// The names (not paths) of the entries directly inside the directory `dir`, sorted.
    fn list(&self, dir: &str) -> Result<Vec<String>, Error>;
}

/// A [`Source`] over a directory on disk. Every path is resolved below the root, and paths that
/// leave it (through `..` or a symbolic link) are refused.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// A source rooted at `root`, which must be an existing directory.
    ///
    /// ```no_run
    /// use gatehouse_render::kustomize::{build, DirSource};
    /// let src = DirSource::new("deploy")?;
    /// let objects = build(&src, "overlays/prod")?;
    /// # Ok::<(), gatehouse_render::kustomize::Error>(())
    /// ```
    pub fn new(root: impl AsRef<Path>) -> Result<Self, Error> {
        let root = root.as_ref();
        let root = root.canonicalize().map_err(|e| Error::Io {
            path: root.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Self { root })
    }

    /// The on-disk path for `path`, or `None` when it does not exist. Refuses paths whose real
    /// location (symbolic links followed) is outside the root.
    fn resolve(&self, path: &str) -> Result<Option<PathBuf>, Error> {
        let clean = normalize("", path)?;
        let joined = if clean.is_empty() {
            self.root.clone()
        } else {
            self.root.join(&clean)
        };
        match joined.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => Ok(Some(real)),
            Ok(_) => Err(Error::Escapes {
                path: path.to_string(),
            }),
            Err(_) => Ok(None),
        }
    }
}

impl Source for DirSource {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(real) = self.resolve(path)? else {
            return Ok(None);
        };
        if real.is_dir() {
            return Ok(None);
        }
        std::fs::read(&real).map(Some).map_err(|e| Error::Io {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    fn is_dir(&self, path: &str) -> bool {
        matches!(self.resolve(path), Ok(Some(real)) if real.is_dir())
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let Some(real) = self.resolve(dir)? else {
            return Ok(Vec::new());
        };
        let entries = std::fs::read_dir(&real).map_err(|e| Error::Io {
            path: dir.to_string(),
            message: e.to_string(),
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A [`Source`] held in memory: file paths (relative, `/`-separated) to contents. Directories
/// exist implicitly as the prefixes of file paths.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MemSource {
    files: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for MemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemSource")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MemSource {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the file at `path`.
    ///
    /// ```
    /// use gatehouse_render::kustomize::{build, MemSource};
    /// let mut src = MemSource::new();
    /// src.insert("app/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: dev-\n");
    /// src.insert("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n");
    /// let objects = build(&src, "app").unwrap();
    /// assert_eq!(objects[0]["metadata"]["name"], "dev-settings");
    /// ```
    pub fn insert(&mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        let path: String = path.into();
        let key = normalize("", &path).unwrap_or(path);
        self.files.insert(key, contents.into());
    }
}

impl From<BTreeMap<String, Vec<u8>>> for MemSource {
    fn from(files: BTreeMap<String, Vec<u8>>) -> Self {
        let mut src = Self::new();
        for (path, contents) in files {
            src.insert(path, contents);
        }
        src
    }
}

impl Source for MemSource {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.files.get(path).cloned())
    }

    fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(str::to_string)
            .collect();
        names.dedup();
        Ok(names)
    }
}

/// Joins `rel` onto the directory `base` and resolves `.` and `..` lexically. Fails when the
/// result would leave the root, or when `rel` is absolute.
pub(crate) fn normalize(base: &str, rel: &str) -> Result<String, Error> {
    if rel.starts_with('/') || rel.starts_with('\\') || rel.get(1..2) == Some(":") {
        return Err(Error::Escapes {
            path: rel.to_string(),
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in base.split('/').chain(rel.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::Escapes {
                        path: join_display(base, rel),
                    });
                }
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// `base/rel` for messages.
pub(crate) fn join_display(base: &str, rel: &str) -> String {
    if base.is_empty() {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// The last segment of a path.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dot_dot_inside_the_root() {
        assert_eq!(normalize("a/b", "../c/./d.yaml").unwrap(), "a/c/d.yaml");
        assert_eq!(normalize("", "x").unwrap(), "x");
        assert!(matches!(
            normalize("a", "../../etc"),
            Err(Error::Escapes { .. })
        ));
        assert!(matches!(
            normalize("a", "/etc/passwd"),
            Err(Error::Escapes { .. })
        ));
    }

    #[test]
    fn mem_source_lists_and_finds_directories() {
        let mut src = MemSource::new();
        src.insert("a/b/c.yaml", "x");
        src.insert("a/d.yaml", "y");
        assert!(src.is_dir("a"));
        assert!(src.is_dir("a/b"));
        assert!(!src.is_dir("a/d.yaml"));
        assert_eq!(src.list("a").unwrap(), vec!["b", "d.yaml"]);
        assert_eq!(src.read("a/d.yaml").unwrap(), Some(b"y".to_vec()));
    }
}
