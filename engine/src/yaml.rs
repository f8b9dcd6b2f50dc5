//! YAML the way Kubernetes reads it: serde-saphyr with legacy octal on (`0644` is 420).

use serde::de::DeserializeOwned;

fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options
}

/// Parses one YAML document.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| e.to_string())
}

/// Parses every document of a multi-document YAML stream.
pub(crate) fn from_str_multiple<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, String> {
    serde_saphyr::from_str_multiple_with_options(text, options()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn legacy_octal_reads_like_kubernetes() {
        let v: serde_json::Value = super::from_str("mode: 0644\n").unwrap();
        assert_eq!(v["mode"], 420);
    }
}
