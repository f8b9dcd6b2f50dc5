//! Embeds the policy library: every bundle file under this directory (`.rego` modules, data
//! files, `.manifest`, `bindings.yaml`) becomes an entry of `FILES`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// Every file of the built-in bundle: (path relative to the bundle root, contents).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo::error=cannot write {}: {e}", dest.display());
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    println!("cargo::rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if path.is_dir() {
            if !name.starts_with('.') && name != "src" && name != "target" {
                walk(root, &path, out);
            }
            continue;
        }
        let bundle_file = name.ends_with(".rego")
            || matches!(name.as_str(), "data.json" | "data.yaml" | "data.yml")
            || (dir == root && matches!(name.as_str(), ".manifest" | "bindings.yaml"));
        if bundle_file {
            println!("cargo::rerun-if-changed={}", path.display());
            out.push((rel, path.display().to_string()));
        }
    }
}
