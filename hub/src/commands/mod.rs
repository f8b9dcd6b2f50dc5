//! One module per subcommand, plus what they share: loading a bundle and reading documents.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gatehouse_engine::{Bindings, Bundle, Engine, EngineOptions, Error, LoadOptions};
use serde_json::Value as Json;

use crate::cli::{Command, PolicySource};

mod admin;
mod bench;
mod check;
mod decide;
mod eval;
mod playground;
mod render;
mod schema;
mod serve;
mod test;

/// Runs a subcommand and returns the process exit code.
pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Eval(args) => eval::run(args),
        Command::Decide(args) => decide::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Check(args) => check::run(args),
        Command::Render(args) => render::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Audit(args) => admin::audit(args),
        Command::Playground(args) => playground::run(args),
    }
}

/// Loads the bundle a command asked for: the `-d` paths, plus the built-in library when
/// requested (or when `builtin_by_default` and no path is given).
pub(crate) fn load_bundle(
    paths: &[PathBuf],
    builtin: bool,
    v0: bool,
    with_tests: bool,
) -> Result<Bundle, Error> {
    let options = LoadOptions { v0 };
    let builtin_bundle = || {
        Bundle::from_files(
            gatehouse_policies::files(with_tests),
            LoadOptions::default(),
        )
    };
    let bundle = match (paths.is_empty(), builtin) {
        (true, true) => builtin_bundle()?,
        (true, false) => Bundle::from_files(std::iter::empty::<(&str, &[u8])>(), options)?,
        (false, false) => Bundle::load_paths(paths, options)?,
        (false, true) => {
            let mut user = Bundle::load_paths(paths, options)?;
            let mut lib = builtin_bundle()?;
            for m in &mut lib.modules {
                m.path = format!("builtin:{}", m.path);
            }
            // The user's plugins replace the library's of the same name.
            lib.plugins.retain(|p| {
                !user
                    .plugins
                    .iter()
                    .any(|u| u.manifest.name == p.manifest.name)
            });
            // The library's data are defaults: the user's data override them.
            lib.override_data(std::mem::replace(
                &mut user.data,
                Json::Object(Default::default()),
            ));
            Bundle::merge(vec![
                ("your policies".into(), user),
                ("the built-in library".into(), lib),
            ])?
        }
    };
    with_builtin_plugins(bundle)
}

/// Adds the built-in plugins a bundle does not define itself, so policies that call them
/// (the library's, or a copy of it) work from any directory.
pub(crate) fn with_builtin_plugins(mut bundle: Bundle) -> Result<Bundle, Error> {
    let builtin = Bundle::from_files(gatehouse_policies::plugin_files(), LoadOptions::default())?;
    bundle.add_plugins(builtin.plugins);
    Ok(bundle)
}

/// Compiles a policy source into an engine, printing compile errors with their location.
pub(crate) fn engine_for(
    source: &PolicySource,
    bindings: Option<&Path>,
    builtin_by_default: bool,
) -> Result<Engine> {
    let builtin = source.builtin || (builtin_by_default && source.data.is_empty());
    let bundle = load_bundle(&source.data, builtin, source.v0, false)?;
    let bindings = bindings.map(read_bindings).transpose()?;
    let options = EngineOptions {
        timeout: source.timeout,
        ..EngineOptions::default()
    };
    Ok(Engine::compile(bundle, bindings, options)?)
}

pub(crate) fn read_bindings(path: &Path) -> Result<Bindings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot be read", path.display()))?;
    Bindings::from_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Reads a document as text: a file, or stdin for `-`.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot be read", path.display()))
}

/// Reads a JSON or YAML document (chosen by extension; stdin is tried as JSON, then YAML).
pub(crate) fn read_document(path: &Path) -> Result<Json> {
    let text = read_text(path)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let shown = path.display();
    if ext == "yaml" || ext == "yml" {
        return gatehouse_engine::yaml_from_str(&text)
            .map_err(|e| anyhow::anyhow!("{shown}: not valid YAML: {e}"));
    }
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) if ext == "json" => {
            bail!("{shown}:{}:{}: not valid JSON: {e}", e.line(), e.column())
        }
        Err(json_err) => gatehouse_engine::yaml_from_str(&text).map_err(|_| {
            anyhow::anyhow!(
                "{shown}:{}:{}: not valid JSON: {json_err}",
                json_err.line(),
                json_err.column()
            )
        }),
    }
}
