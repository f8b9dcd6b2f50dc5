//! Gatehouse: the hub server and the command line.
//!
//! The binary is a thin shell around the decision core (`gatehouse-engine`): commands parse
//! flags, load a bundle, ask the engine and print what it answered. The command-line surface is
//! declared once in [`cli`] (from which the CLI reference in `docs/` is generated); each
//! subcommand lives in its own module under [`commands`].

/// `print!` to standard output that returns an [`OutputError`] instead of panicking: a reader
/// that stops early (`gatehouse test … | head`) ends the command, and `main` exits quietly with
/// the status a process killed by `SIGPIPE` would have.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::OutputError)
    }};
}

/// `println!` to standard output that returns an [`OutputError`] instead of panicking (see
/// `out!`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::OutputError)
    }};
}

/// A failure to write a command's output to standard output.
#[derive(Debug, thiserror::Error)]
#[error("writing to standard output: {0}")]
pub struct OutputError(#[source] pub std::io::Error);

/// Whether `err` is standard output's reader having gone (`gatehouse … | head`), as opposed to
/// any other failure, which is reported.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<OutputError>()
            .is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub mod cli;
pub mod cli_reference;
pub mod commands;
pub mod delivery;
pub mod git;
pub mod logging;
pub mod server;
