//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse::commands`].

use std::process::ExitCode;

use clap::Parser;

// Rego evaluation allocates a node per value; mimalloc is markedly faster than glibc here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = gatehouse::cli::Cli::parse();
    gatehouse::logging::init(&cli.log_level);
    match gatehouse::commands::run(cli.command) {
        Ok(code) => code,
        // The reader went away (`gatehouse test | head`): stop quietly, with the status of a
        // process ended by SIGPIPE, so a pipeline under `pipefail` never mistakes it for success.
        Err(err) if gatehouse::is_broken_pipe(&err) => ExitCode::from(141),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
