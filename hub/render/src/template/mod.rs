//! Go's `text/template` as Helm runs it: parse once, execute many.
//!
//! [`Templates`] is the set of parsed templates of a chart, sharing one namespace of `define`d
//! names, like Go's `*template.Template` after Helm has parsed every file. It is `Send + Sync`
//! and cheap to clone, so one parse serves every render of the chart, in parallel. A render
//! executes templates through an [`Exec`], which carries the render's function context and its
//! limits (steps, output, nesting), so that no template can hang or exhaust a server.
//!
//! The language is Go's, with Helm's choices: missing map keys are nil (`missingkey=zero`),
//! `include` and `tpl` are available, and errors read like Helm's (see [`Error`]). Functions
//! are resolved when a template is parsed: Go's builtins first, then `include` and `tpl`, then
//! the library ([`crate::funcs::lookup`]), whose `slice` is Sprig's, as in Helm.
//!
//! ```
//! use gatehouse_render::template::{Exec, Templates};
//! use gatehouse_render::{funcs::Ctx, Map, Value};
//!
//! let mut set = Templates::new();
//! set.add("chart/templates/_helpers.tpl", r#"{{ define "name" }}app-{{ .Values.name }}{{ end }}"#)?;
//! set.add("chart/templates/cm.yaml", r#"name: {{ include "name" . }}"#)?;
//!
//! let values = Map::new();
//! values.insert("name", Value::str("web"));
//! let top = Map::new();
//! top.insert("Values", Value::Map(values));
//!
//! let mut exec = Exec::new(Ctx::new([0; 32], 0));
//! let out = set.execute("chart/templates/cm.yaml", &Value::Map(top), &mut exec)?;
//! assert_eq!(out, "name: app-web");
//! # Ok::<(), gatehouse_render::template::Error>(())
//! ```
//!
//! The lexer, parser and executor follow Go's source closely (`text/template/parse` and
//! `exec.go`): trim markers, comments, positions, the wording and line of every parse error,
//! the node an execution error names, Go's nil and `<no value>`, and the type rules of `eq` and
//! `lt` all match. `testdata/helm_cases.json` holds a few hundred templates with what Helm v4
//! printed for them, and the tests check every one. Where this engine still differs:
//!
//! - complex constants (`{{ 1+2i }}`) are an execution error: the value model has no complex
//!   numbers;
//! - nesting is bounded more tightly than in Go: 250 levels of parentheses or control
//!   structures per template (Go: 10000 parentheses), `template` calls as deep as `include`
//!   ones ([`Exec::max_include_depth`]; Go: 100000), and native stack use by
//!   [`Exec::max_stack`], which in debug builds stops nesting sooner;
//! - Helm counts nested `include`s per template name; this engine counts all of them;
//! - library functions are plain `fn(&mut Ctx, &[Value])`, so Go's "wrong number of args" and
//!   argument type errors for them are the library's own messages, not Go's;
//! - Go's `unicode.IsPrint` (for `js` and `%q`-style quoting) is approximated without Unicode's
//!   tables of unassigned code points, and `\x` escapes that do not form UTF-8 become U+FFFD.

use std::collections::HashMap;
use std::sync::Arc;

mod ast;
mod builtins;
mod error;
mod exec;
mod lex;
mod parse;
mod quote;

#[cfg(test)]
mod tests;

pub use error::{Error, ErrorKind};

use ast::{Builtin, FuncRef, Tree};
use exec::{EVal, Machine};

/// A set of parsed templates sharing one namespace of `define`d names.
#[derive(Clone, Default)]
pub struct Templates {
    inner: Arc<HashMap<Box<str>, Arc<Tree>>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.inner.keys().map(|k| &**k).collect();
        names.sort_unstable();
        f.debug_struct("Templates").field("names", &names).finish()
    }
}

impl Templates {
    /// An empty set.
    pub fn new() -> Templates {
        Templates::default()
    }

    /// Parses `text` as the template file `name` (for example
    /// `mychart/templates/deployment.yaml`) and registers it and every `define` and `block` in
    /// it. A later definition of a name replaces an earlier one, as in Go (Helm relies on the
    /// order it adds files in), except that an empty-bodied definition does not replace a
    /// non-empty one.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), Error> {
        let trees = parse::parse(name, text, &resolve, parse::STACK_BUDGET).map_err(|e| *e)?;
        let map = Arc::make_mut(&mut self.inner);
        for tree in trees {
            if tree.is_empty() && map.contains_key(&*tree.name) {
                continue;
            }
            map.insert(tree.name.clone(), Arc::new(tree));
        }
        Ok(())
    }

    /// Whether a template (file or `define`) is called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.contains_key(name)
    }

    /// The names of all templates, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.inner.keys().map(|k| &**k).collect();
        names.sort_unstable();
        names
    }

    /// Executes template `name` with `dot` as `.` and `$`. Returns the output as Go writes it:
    /// a nil printed by an action comes out as `<no value>` (Helm strips those afterwards).
    pub fn execute(&self, name: &str, dot: &Value, exec: &mut Exec) -> Result<String, Error> {
        let Some(tree) = self.inner.get(name).cloned() else {
            return Err(*Error::no_template(name));
        };
        let mut out = String::new();
        let mut machine = Machine::new(&self.inner, exec);
        machine
            .run(&tree, &EVal::direct(dot.clone()), &mut out)
            .map_err(|e| *e)?;
        Ok(out)
    }
}

use crate::value::Value;

/// Resolves a function name when a template is parsed: Go's builtins, then Helm's `include`
/// and `tpl`, then the library. Helm's function map overrides Go's builtins, and the only
/// name they share is `slice`, which is Sprig's when the library has it.
pub(crate) fn resolve(name: &str) -> Option<FuncRef> {
    if name != "slice"
        && let Some(b) = Builtin::named(name)
    {
        return Some(FuncRef::Builtin(b));
    }
    match name {
        "include" => return Some(FuncRef::Include),
        "tpl" => return Some(FuncRef::Tpl),
        _ => {}
    }
    if let Some(f) = crate::funcs::lookup(name) {
        return Some(FuncRef::Lib(f));
    }
    Builtin::named(name).map(FuncRef::Builtin)
}

/// Per-render execution state and limits.
///
/// Counters accumulate over every [`Templates::execute`] made with the same `Exec`, so one
/// `Exec` per render bounds the whole render.
pub struct Exec {
    /// The function library's per-render state (seeded randomness, the clock).
    pub ctx: crate::funcs::Ctx,
    /// How deeply `include`, `tpl` and `template` calls may nest (Helm: 1000 for `include`).
    pub max_include_depth: usize,
    /// How many nodes and commands a render may evaluate; past it the render fails, so that
    /// `range until 100000000` cannot hang a server.
    pub max_steps: u64,
    /// How many bytes a render may write, counting what `include` and `tpl` produce.
    pub max_output: usize,
    /// How many bytes of native stack nested templates may use: a guard for threads with
    /// small stacks, checked at every nesting.
    pub max_stack: usize,
    steps: u64,
    output: usize,
    tpl_cache: HashMap<Box<str>, Arc<Vec<Arc<Tree>>>>,
    tpl_cache_bytes: usize,
}

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec")
            .field("ctx", &self.ctx)
            .field("max_include_depth", &self.max_include_depth)
            .field("max_steps", &self.max_steps)
            .field("max_output", &self.max_output)
            .field("max_stack", &self.max_stack)
            .field("steps", &self.steps)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

/// How much `tpl` text an `Exec` keeps parsed, in bytes of source.
const TPL_CACHE_BYTES: usize = 4 << 20;

impl Exec {
    /// Limits suited to charts from the wild: 1000 nested includes (Helm's), 50 million steps,
    /// 256 MiB of output and 1 MiB of native stack for nesting.
    pub fn new(ctx: crate::funcs::Ctx) -> Exec {
        Exec {
            ctx,
            max_include_depth: 1000,
            max_steps: 50_000_000,
            max_output: 256 << 20,
            max_stack: 1 << 20,
            steps: 0,
            output: 0,
            tpl_cache: HashMap::new(),
            tpl_cache_bytes: 0,
        }
    }

    /// How many steps the render has taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// How many bytes the render has written so far.
    pub fn output(&self) -> usize {
        self.output
    }

    fn cache_tpl(&mut self, text: &str, trees: Arc<Vec<Arc<Tree>>>) {
        if self.tpl_cache_bytes + text.len() <= TPL_CACHE_BYTES {
            self.tpl_cache_bytes += text.len();
            self.tpl_cache.insert(text.into(), trees);
        }
    }
}
