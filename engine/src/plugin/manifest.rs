//! The plugin manifest: what a plugin is called, which action kinds it handles, the schema of
//! its configuration and the digest of its module.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// A plugin's manifest (`plugins/<name>/plugin.yaml` in a bundle).
///
/// ```yaml
/// name: freeze-windows
/// version: 1.0.0
/// kinds: [release.deploy, promotion]
/// config_schema: {type: object}
/// module: plugin.wasm
/// sha256: 3f1c...   # of the module file
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// The name policies call it by (`gatehouse.plugin("freeze-windows", ...)`): lowercase
    /// letters, digits and dashes.
    pub name: String,
    /// The plugin's version (semantic versioning recommended).
    pub version: String,
    /// What it does, in a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The action kinds it handles (e.g. `release.deploy`). For an input of another kind the
    /// host does not call it and the answer is empty. Empty: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// JSON Schema of its configuration; a call whose configuration does not validate is
    /// refused (and the action denied). Absent: any configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<Json>,
    /// The module file, relative to the manifest (default `plugin.wasm`).
    #[serde(default = "default_module")]
    pub module: String,
    /// Lowercase hex SHA-256 of the module file; a module that does not match is refused.
    pub sha256: String,
}

fn default_module() -> String {
    "plugin.wasm".to_owned()
}

impl PluginManifest {
    /// Parses a manifest (YAML or JSON) and checks its fields.
    pub fn from_yaml(text: &str) -> Result<PluginManifest, String> {
        let m: PluginManifest = crate::yaml::from_str(text)?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "name '{}' must be 1 to 64 lowercase letters, digits and dashes",
                self.name
            ));
        }
        let digest_ok =
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !digest_ok {
            return Err(format!(
                "sha256 '{}' is not a SHA-256 digest (64 hex digits); compute it with `sha256sum {}`",
                self.sha256, self.module
            ));
        }
        if self.module.contains("..") || self.module.starts_with('/') {
            return Err(format!(
                "module '{}' must be a file beside the manifest",
                self.module
            ));
        }
        Ok(())
    }

    /// Checks `module` against the manifest's digest; the error says what to do.
    pub fn verify(&self, module: &[u8]) -> Result<(), String> {
        let actual = hex::encode(Sha256::digest(module));
        if actual.eq_ignore_ascii_case(&self.sha256) {
            Ok(())
        } else {
            Err(format!(
                "the module of plugin {} does not match its manifest: sha256 is {actual}, the manifest says {}. \
                 The module was changed or replaced after the manifest was written; rebuild the plugin and update the manifest's sha256",
                self.name, self.sha256
            ))
        }
    }
}

/// The lowercase hex SHA-256 of a module, for writing manifests.
pub fn module_digest(module: &[u8]) -> String {
    hex::encode(Sha256::digest(module))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn manifests_parse_and_verify_their_module() {
        let m = PluginManifest::from_yaml(&format!(
            "name: demo\nversion: 1.0.0\nkinds: [release.deploy]\nsha256: {DIGEST}\n"
        ))
        .unwrap();
        assert_eq!(m.module, "plugin.wasm");
        assert!(m.verify(b"hello").is_ok());
        let err = m.verify(b"hello!").unwrap_err();
        assert!(
            err.contains("does not match its manifest") && err.contains("rebuild the plugin"),
            "{err}"
        );
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let err = PluginManifest::from_yaml(&format!("name: Demo\nversion: 1\nsha256: {DIGEST}\n"))
            .unwrap_err();
        assert!(err.contains("lowercase"), "{err}");
        let err = PluginManifest::from_yaml("name: demo\nversion: 1\nsha256: abc\n").unwrap_err();
        assert!(err.contains("64 hex digits"), "{err}");
        let err = PluginManifest::from_yaml(&format!(
            "name: demo\nversion: 1\nsha256: {DIGEST}\nmodule: ../x.wasm\n"
        ))
        .unwrap_err();
        assert!(err.contains("beside the manifest"), "{err}");
        let err = PluginManifest::from_yaml("name: demo\nversion: 1\nsha: x\n").unwrap_err();
        assert!(err.contains("sha"), "{err}");
    }
}
