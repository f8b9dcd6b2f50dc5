//! `-d/--data`: data documents loaded the way conftest loads them.
//!
//! Every `.json`, `.yaml` and `.yml` file under a data path is read; a file found in a
//! directory is mounted at its directory relative to the argument (`-d policy` mounts
//! `policy/exceptions/list.yaml` at `data.exceptions`), a file given directly is mounted at the
//! root. Documents are deep-merged; two files defining the same value differently is an error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value as Json};

/// Loads every data file under `paths` and merges it into `data` (the policies' own data).
pub(crate) fn load_into(paths: &[PathBuf], data: &mut Json) -> Result<()> {
    for root in paths {
        let meta = std::fs::metadata(root).with_context(|| {
            format!(
                "the data path {} cannot be read; check the -d/--data argument",
                root.display()
            )
        })?;
        let mut files = Vec::new();
        if meta.is_dir() {
            walk(root, &mut files)?;
        } else {
            files.push(root.clone());
        }
        files.sort();
        for file in files {
            let value = read(&file)?;
            let mount: Vec<String> = if meta.is_dir() {
                file.parent()
                    .and_then(|dir| dir.strip_prefix(root).ok())
                    .map(|rel| {
                        rel.components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let mut doc = value;
            for key in mount.iter().rev() {
                let mut m = Map::new();
                m.insert(key.clone(), doc);
                doc = Json::Object(m);
            }
            if !doc.is_object() {
                bail!(
                    "{} holds {}, but data mounted at the root must be an object; wrap it in a key",
                    file.display(),
                    kind(&doc)
                );
            }
            merge(data, doc, &file, &mut Vec::new())?;
        }
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{} cannot be read", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("{} cannot be read", dir.display()))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

fn read(file: &Path) -> Result<Json> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("the data file {} cannot be read", file.display()))?;
    if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: the data file is not valid JSON: {e}",
                file.display(),
                e.line(),
                e.column()
            )
        })
    } else {
        gatehouse_engine::yaml_from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: the data file is not valid YAML: {}",
                file.display(),
                e.lines().next().unwrap_or_default()
            )
        })
    }
}

fn merge(into: &mut Json, from: Json, file: &Path, path: &mut Vec<String>) -> Result<()> {
    match (into, from) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                path.push(k.clone());
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v, file, path)?,
                    None => {
                        a.insert(k, v);
                    }
                }
                path.pop();
            }
            Ok(())
        }
        (existing, new) if *existing == new => Ok(()),
        _ => bail!(
            "{} sets data.{} to a value another data file already set differently; keep one of them",
            file.display(),
            path.join(".")
        ),
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Array(_) => "an array",
        Json::String(_) => "a string",
        Json::Number(_) => "a number",
        Json::Bool(_) => "a boolean",
        Json::Null => "null",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_mount_at_their_directory_and_merge() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("exceptions")).unwrap();
        std::fs::write(d.join("exceptions/list.yaml"), "images: [nginx]\n").unwrap();
        std::fs::write(d.join("root.json"), "{\"env\": \"prod\"}").unwrap();
        std::fs::write(d.join("ignored.txt"), "x").unwrap();
        let single = d.join("exceptions/list.yaml");
        let mut data = json!({});
        load_into(&[d.to_path_buf(), single], &mut data).unwrap();
        assert_eq!(
            data,
            json!({"env": "prod", "exceptions": {"images": ["nginx"]}, "images": ["nginx"]})
        );
    }

    #[test]
    fn conflicting_values_are_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "{\"x\": {\"y\": 1}}").unwrap();
        std::fs::write(dir.path().join("b.json"), "{\"x\": {\"y\": 2}}").unwrap();
        let err = load_into(&[dir.path().to_path_buf()], &mut json!({})).unwrap_err();
        assert!(err.to_string().contains("data.x.y"), "{err}");
    }
}
