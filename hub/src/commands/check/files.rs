//! Inputs: which files are checked, and reading each into documents.
//!
//! File arguments are taken as given (`-` is stdin); directory arguments are searched for files
//! a parser recognises, skipping paths that match `--ignore`. A file that cannot be read or
//! parsed is not skipped: it becomes a failure that names the file and, when the parser knows
//! it, the line and column.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use regex::Regex;
use serde_json::{Value as Json, json};

use super::evaluate::file_info;
use super::parse::{self, ParseError};
use super::result::{Location, Message};
use crate::cli::CheckParser;

/// A file to check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Source {
    /// The path as shown in results (`-` for stdin).
    pub name: String,
    path: PathBuf,
}

/// A file read into documents, or the failure that stopped it.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    /// The path as shown in results.
    pub name: String,
    /// `data.conftest.file` while its documents are checked.
    pub info: Json,
    /// Its documents (a YAML stream has several), or why there are none.
    pub documents: Result<Vec<Json>, Message>,
}

/// The files named by the arguments, directories expanded, in path order.
pub(crate) fn collect(arguments: &[PathBuf], ignore: Option<&Regex>) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    for arg in arguments {
        if arg == Path::new("-") {
            sources.push(Source {
                name: "-".into(),
                path: arg.clone(),
            });
            continue;
        }
        let meta = std::fs::metadata(arg).with_context(|| {
            format!(
                "{} cannot be read; check the file arguments of gatehouse check",
                arg.display()
            )
        })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(arg, ignore, &mut found, &mut Vec::new())?;
            sources.extend(found.into_iter().map(|path| Source {
                name: path.display().to_string(),
                path,
            }));
        } else {
            sources.push(Source {
                name: arg.display().to_string(),
                path: arg.clone(),
            });
        }
    }
    if sources.is_empty() {
        let shown: Vec<String> = arguments.iter().map(|a| a.display().to_string()).collect();
        bail!(
            "No files to check: {} holds no file that a parser recognises (YAML, JSON, TOML, HCL, Dockerfile, ...). \
             Name the files directly, with --parser when their extension is unusual.",
            shown.join(", ")
        );
    }
    sources.sort();
    sources.dedup();
    Ok(sources)
}

/// Walks `dir` recursively; `seen` holds the directories already walked, so symbolic links that
/// loop back are followed once.
fn walk(
    dir: &Path,
    ignore: Option<&Regex>,
    out: &mut Vec<PathBuf>,
    seen: &mut Vec<PathBuf>,
) -> Result<()> {
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if seen.contains(&canonical) {
        return Ok(());
    }
    seen.push(canonical);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("the directory {} cannot be read", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if ignore.is_some_and(|re| re.is_match(&path.to_string_lossy())) {
            continue;
        }
        if path.is_dir() {
            walk(&path, ignore, out, seen)?;
        } else if parse::recognised_in_directory(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads and parses one file. `stdin` holds what was read from stdin, for `-`.
pub(crate) fn read(source: &Source, forced: Option<CheckParser>, stdin: &str) -> Parsed {
    let name = source.name.clone();
    let info = file_info(&name);
    let failure = |msg: String, line: Option<usize>, parser: Option<CheckParser>| {
        let mut m = Message::text(msg);
        m.loc = Some(Location {
            file: name.clone(),
            line: line.map(|l| l as u64),
        });
        if let Some(p) = parser {
            m.metadata
                .insert("parser".into(), json!(format!("{p:?}").to_lowercase()));
        }
        m
    };
    let text = if name == "-" {
        Ok(stdin.to_owned())
    } else {
        std::fs::read(&source.path)
            .map_err(|e| format!("{name}: cannot be read: {e}."))
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|e| {
                    let valid = e.utf8_error().valid_up_to();
                    let prefix =
                        String::from_utf8_lossy(e.as_bytes().get(..valid).unwrap_or_default());
                    let (line, col) = parse::position(&prefix, prefix.len());
                    format!("{name}:{line}:{col}: is not UTF-8 text, so it cannot be parsed.")
                })
            })
    };
    let text = match text {
        Ok(t) => t,
        Err(msg) => {
            return Parsed {
                name: name.clone(),
                info,
                documents: Err(failure(msg, None, None)),
            };
        }
    };
    let parser = match forced {
        Some(p) => p,
        None if name == "-" => parse::detect(&text),
        None => match parse::parser_for(&source.path) {
            Some(p) => p,
            None => {
                return Parsed {
                    name: name.clone(),
                    info,
                    documents: Err(failure(
                        format!(
                            "{name}: no parser reads files with this extension; choose one with --parser (for example --parser yaml)."
                        ),
                        None,
                        None,
                    )),
                };
            }
        },
    };
    let documents = parse::parse(parser, &text).map_err(|e: ParseError| {
        let at = e.position();
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(":{at}")
        };
        let message = e.message.trim_end_matches('.');
        failure(
            format!(
                "{name}{at}: cannot be read as {}: {message}.",
                parse::name(parser)
            ),
            e.line,
            Some(parser),
        )
    });
    Parsed {
        name,
        info,
        documents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_to_recognised_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for f in [
            "b.yaml",
            "a.json",
            "sub/c.tf",
            "notes.txt",
            "LICENSE",
            "skip.yaml",
        ] {
            std::fs::write(d.join(f), "{}").unwrap();
        }
        let ignore = Regex::new("skip").unwrap();
        let found = collect(&[d.to_path_buf()], Some(&ignore)).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|s| s.path.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.json", "b.yaml", "sub/c.tf"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_loop_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("a/loop")).unwrap();
        let found = collect(&[dir.path().to_path_buf()], None).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn a_parse_error_is_a_located_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\n  \"a\" 1\n}\n").unwrap();
        let source = Source {
            name: "bad.json".into(),
            path,
        };
        let parsed = read(&source, None, "");
        let failure = parsed.documents.unwrap_err();
        assert!(
            failure
                .msg
                .starts_with("bad.json:2:7: cannot be read as JSON"),
            "{}",
            failure.msg
        );
        assert_eq!(failure.loc.unwrap().line, Some(2));
    }
}
