//! The built-in Gatehouse policy library, embedded in the binary.
//!
//! The Rego sources, their tests, the default configuration (`data.yaml`) and the default
//! bindings (`bindings.yaml`) live beside this crate in `policies/`; the build script embeds
//! them so that `gatehouse serve`, `gatehouse decide` and the playground carry the library
//! without any file on disk. Each policy's documentation is in `docs/policies/`.

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// The library's files, optionally without the `*_test.rego` modules (which only
/// `gatehouse test` needs).
pub fn files(include_tests: bool) -> impl Iterator<Item = (&'static str, &'static [u8])> {
    FILES
        .iter()
        .copied()
        .filter(move |(path, _)| include_tests || !path.ends_with("_test.rego"))
}

/// The built-in WebAssembly plugins' files (`plugins/<name>/plugin.yaml` and its module), to
/// be added to any bundle whose policies call them: the library's, a copy of it, or policies
/// written in the playground.
pub fn plugin_files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    files(false).filter(|(path, _)| path.starts_with("plugins/"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_library_is_embedded() {
        assert!(super::FILES.iter().any(|(p, _)| *p == "bindings.yaml"));
        assert!(super::files(false).all(|(p, _)| !p.ends_with("_test.rego")));
        assert!(super::files(true).count() > super::files(false).count());
        assert!(super::plugin_files().any(|(p, _)| p.ends_with("/plugin.yaml")));
    }
}
