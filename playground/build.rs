//! Builds the playground's web assets into `OUT_DIR`, where `src/assets.rs` embeds them.
//!
//! Runs `npm ci` in `web/` when `node_modules` is missing or older than `package-lock.json`
//! (offline-friendly: the lock file is respected and the npm cache preferred), then the bundle
//! step, `node build.mjs <OUT_DIR>` (esbuild). Built bundles are never committed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let web = manifest.join("web");
    println!("cargo::rerun-if-changed=build.rs");
    for file in [
        "package.json",
        "package-lock.json",
        "build.mjs",
        "index.html",
    ] {
        println!("cargo::rerun-if-changed={}", web.join(file).display());
    }
    watch(&web.join("src"));
    println!("cargo::rerun-if-env-changed=GATEHOUSE_NPM");

    let npm = std::env::var("GATEHOUSE_NPM").unwrap_or_else(|_| "npm".to_owned());
    if Command::new("node").arg("--version").output().is_err() {
        fail(
            "Node.js was not found on PATH. The playground's web page is bundled from web/ at build \
             time: install Node.js 18 or newer with npm (Debian: `apt-get install nodejs npm`) and \
             build again.",
        );
        return;
    }
    if stale(&web) {
        let status = Command::new(&npm)
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
            .current_dir(&web)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                fail(&format!(
                    "`npm ci` in {} failed ({s}). It installs the editor and the bundler from \
                     package-lock.json; check that the npm registry (or a populated npm cache) is \
                     reachable, then build again.",
                    web.display()
                ));
                return;
            }
            Err(e) => {
                fail(&format!(
                    "`{npm}` could not be started ({e}). Install npm (Debian: `apt-get install npm`) \
                     or point GATEHOUSE_NPM at it, then build again."
                ));
                return;
            }
        }
    }
    let status = Command::new("node")
        .arg("build.mjs")
        .arg(&out)
        .current_dir(&web)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "bundling the playground page (`node build.mjs` in {}) failed ({s}); the error is above.",
            web.display()
        )),
        Err(e) => fail(&format!("`node build.mjs` could not be started: {e}")),
    }
}

fn fail(message: &str) {
    println!("cargo::error={message}");
}

/// Whether `node_modules` needs (re)installing: missing, or older than the lock file.
fn stale(web: &Path) -> bool {
    let modified = |p: PathBuf| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    let installed = web.join("node_modules").join(".package-lock.json");
    !installed.exists() || modified(installed) < modified(web.join("package-lock.json"))
}

fn watch(dir: &Path) {
    println!("cargo::rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}
