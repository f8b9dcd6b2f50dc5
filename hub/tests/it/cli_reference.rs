//! The committed command-line reference matches the binary's clap definitions.

#[test]
fn cli_reference_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md");
    let fresh = gatehouse::cli_reference::markdown();
    if std::env::var_os("GATEHOUSE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &fresh).expect("docs/cli.md is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/cli.md is out of date; regenerate it with: GATEHOUSE_UPDATE_DOCS=1 cargo test -p gatehouse --test it cli_reference"
    );
}
