//! Embeds the policy library: every bundle file under this directory (`.rego` modules, data
//! files, `.manifest`, `bindings.yaml`) becomes an entry of `FILES`, and so do the built-in
//! WebAssembly plugins, which this script builds from `../plugins` (a cargo workspace of its
//! own) for `wasm32-unknown-unknown`, in a target directory under `OUT_DIR`. Each plugin's
//! `plugin.yaml` is embedded with the `module` and `sha256` of the module just built.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    match plugins(&root.join("..").join("plugins"), &out_dir) {
        Ok(built) => files.extend(built),
        Err(e) => {
            println!("cargo::error={e}");
            return;
        }
    }
    files.sort();
    let mut out = String::from(
        "/// Every file of the built-in bundle: (path relative to the bundle root, contents).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let dest = out_dir.join("files.rs");
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

/// Builds the plugin workspace and lays out `plugins/<name>/plugin.{yaml,wasm}` under
/// `OUT_DIR`; returns the bundle files.
fn plugins(dir: &Path, out_dir: &Path) -> Result<Vec<(String, String)>, String> {
    let dir = dir.canonicalize().map_err(|e| {
        format!(
            "the plugin sources at {} cannot be read: {e}",
            dir.display()
        )
    })?;
    for f in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", dir.join(f).display());
    }
    // Each directory with a plugin.yaml is a built-in plugin; its crate builds its module.
    let mut crates = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{} cannot be listed: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "target"))
        .collect();
    entries.sort();
    for krate in entries {
        for f in ["Cargo.toml", "plugin.yaml"] {
            println!("cargo::rerun-if-changed={}", krate.join(f).display());
        }
        watch(&krate.join("src"));
        if krate.join("plugin.yaml").is_file() {
            crates.push(krate);
        }
    }

    check_target()?;
    let target_dir = out_dir.join("plugins-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // Flags meant for the outer (host) build must not reach the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cargo could not be run to build the built-in plugins: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the built-in plugins in {} for {TARGET} failed (the compiler's messages are above; \
             run `cargo build --release --target {TARGET} --manifest-path plugins/Cargo.toml` to see them alone)",
            dir.display()
        ));
    }

    let mut files = Vec::new();
    for krate in crates {
        let manifest_text = std::fs::read_to_string(krate.join("plugin.yaml"))
            .map_err(|e| format!("{}: {e}", krate.join("plugin.yaml").display()))?;
        let name = yaml_field(&manifest_text, "name").ok_or_else(|| {
            format!(
                "{}: has no `name:` line",
                krate.join("plugin.yaml").display()
            )
        })?;
        let crate_name = package_name(&krate.join("Cargo.toml"))?;
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", crate_name.replace('-', "_")));
        let bytes = std::fs::read(&wasm).map_err(|e| {
            format!(
                "the module of plugin {name} was not built at {}: {e}",
                wasm.display()
            )
        })?;
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dest = out_dir.join("plugins").join(&name);
        std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let manifest = format!(
            "{}\n# Added by the build.\nmodule: plugin.wasm\nsha256: {digest}\n",
            manifest_text.trim_end()
        );
        let (yaml, module) = (dest.join("plugin.yaml"), dest.join("plugin.wasm"));
        std::fs::write(&yaml, manifest).map_err(|e| format!("{}: {e}", yaml.display()))?;
        std::fs::write(&module, &bytes).map_err(|e| format!("{}: {e}", module.display()))?;
        files.push((
            format!("plugins/{name}/plugin.yaml"),
            yaml.display().to_string(),
        ));
        files.push((
            format!("plugins/{name}/plugin.wasm"),
            module.display().to_string(),
        ));
    }
    Ok(files)
}

/// Fails with the command to run when the wasm target is not installed.
fn check_target() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir());
    if installed {
        Ok(())
    } else {
        Err(format!(
            "the built-in WebAssembly plugins are built for {TARGET}, and that target is not installed: run `rustup target add {TARGET}` and build again"
        ))
    }
}

fn watch(dir: &Path) {
    println!("cargo::rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}

/// The value of a top-level `key: value` line of a small YAML file.
fn yaml_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')
            .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// The package name in a Cargo.toml.
fn package_name(manifest: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| format!("{}: has no package name", manifest.display()))
}
