//! Gatehouse: the hub server and the command line.
//!
//! The binary is a thin shell around the decision core (`gatehouse-engine`): commands parse
//! flags, load a bundle, ask the engine and print what it answered. The command-line surface is
//! declared once in [`cli`] (from which the CLI reference in `docs/` is generated); each
//! subcommand lives in its own module under [`commands`].

pub mod cli;
pub mod cli_reference;
pub mod commands;
pub mod delivery;
pub mod git;
pub mod logging;
pub mod server;
