//! YAML the way Kubernetes and Helm read it: serde-saphyr with legacy octal on (`0644` is 420).

use serde::de::DeserializeOwned;

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options
}

/// Parses one YAML document; the error names the line and column.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| e.to_string())
}
