//! Plugins as a Rego extension function, and the per-decision call log.
//!
//! `gatehouse.plugin(name, input, config)` is registered on the prototype interpreter, so
//! every clone a decision works on has it (regorus clones the extension with the engine; ours
//! holds only a handle to the swappable [`Plugins`] slot).
//!
//! While the engine decides, a call log lives in a thread-local (a decision evaluates on one
//! thread, synchronously): it pins the plugin set for the whole decision, memoizes calls (the
//! same plugin with the same input and configuration is called once per decision, including
//! when the engine evaluates a failed policy again on its own), and records failures so the
//! engine can name the plugin in the denial rather than only the policy that called it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use regorus::Value;
use serde_json::Value as Json;

use super::{PluginFailure, PluginSet, Plugins, REGO_FUNCTION};

type Memo = HashMap<String, Result<Json, PluginFailure>>;

struct CallLog {
    set: Arc<PluginSet>,
    memo: Memo,
    failures: Vec<PluginFailure>,
}

thread_local! {
    static LOG: RefCell<Option<CallLog>> = const { RefCell::new(None) };
}

/// Installs a call log for one decision on this thread; dropping it restores the previous one.
pub(crate) struct DecisionLog {
    previous: Option<CallLog>,
}

impl DecisionLog {
    pub(crate) fn begin(plugins: &Plugins) -> DecisionLog {
        let log = CallLog {
            set: plugins.current(),
            memo: HashMap::new(),
            failures: Vec::new(),
        };
        DecisionLog {
            previous: LOG.with(|l| l.replace(Some(log))),
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        let previous = self.previous.take();
        LOG.with(|l| *l.borrow_mut() = previous);
    }
}

/// Takes the plugin failures recorded on this thread's decision since the last take.
pub(crate) fn take_failures() -> Vec<PluginFailure> {
    LOG.with(|l| {
        l.borrow_mut()
            .as_mut()
            .map(|log| std::mem::take(&mut log.failures))
            .unwrap_or_default()
    })
}

/// Registers `gatehouse.plugin(name, input, config)` on an interpreter.
pub(crate) fn register(rego: &mut regorus::Engine, plugins: &Plugins) -> Result<(), String> {
    let plugins = plugins.clone();
    rego.add_extension(
        REGO_FUNCTION.to_owned(),
        3,
        Box::new(move |args: Vec<Value>| call(&plugins, &args)),
    )
    .map_err(|e| format!("the {REGO_FUNCTION} extension could not be registered: {e}"))
}

fn call(plugins: &Plugins, args: &[Value]) -> anyhow::Result<Value> {
    let [name, input, config] = args else {
        anyhow::bail!("{REGO_FUNCTION} takes a plugin name, an input and a configuration");
    };
    let name = name
        .as_string()
        .map_err(|_| anyhow::anyhow!("{REGO_FUNCTION}: the plugin name must be a string"))?
        .to_string();
    let input = serde_json::to_value(input)?;
    let config = serde_json::to_value(config)?;
    let result = LOG.with(|l| -> Result<Json, PluginFailure> {
        let mut slot = l.borrow_mut();
        match slot.as_mut() {
            Some(log) => {
                let key = serde_json::to_string(&(&name, &input, &config)).unwrap_or_default();
                if let Some(hit) = log.memo.get(&key) {
                    if let Err(f) = hit {
                        log.failures.push(f.clone());
                    }
                    return hit.clone();
                }
                let set = Arc::clone(&log.set);
                // Plugins run without the log borrowed: they cannot call back into Rego, but
                // keep the borrow short anyway.
                drop(slot);
                let result = set.call(&name, &input, &config);
                let mut slot = l.borrow_mut();
                if let Some(log) = slot.as_mut() {
                    if let Err(f) = &result {
                        log.failures.push(f.clone());
                    }
                    log.memo.insert(key, result.clone());
                }
                result
            }
            None => {
                drop(slot);
                plugins.current().call(&name, &input, &config)
            }
        }
    });
    match result {
        Ok(json) => Ok(Value::from(json)),
        Err(failure) => Err(anyhow::anyhow!("{failure}")),
    }
}
