//! The command-line reference (`docs/cli.md`), rendered from the clap definitions in
//! [`crate::cli`] so it cannot drift from the binary; a test compares the committed file.

use std::fmt::Write as _;

use clap::CommandFactory;

/// Renders the reference as Markdown.
pub fn markdown() -> String {
    let mut root = crate::cli::Cli::command();
    root.build();
    let mut out = String::from(
        "# Command-line reference\n\n<!-- Generated from the clap definitions in hub/src/cli.rs; do not edit. \
         Regenerate with: GATEHOUSE_UPDATE_DOCS=1 cargo test -p gatehouse --test it cli_reference -->\n\n",
    );
    if let Some(about) = root.get_about() {
        let _ = writeln!(out, "{about}\n");
    }
    global_options(&mut out, &root);
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        let _ = writeln!(out, "## gatehouse {name}\n");
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            let about = about.to_string();
            let stop = if about.ends_with('.') { "" } else { "." };
            let _ = writeln!(out, "{about}{stop}\n");
        }
        let usage = sub
            .clone()
            .bin_name(format!("gatehouse {name}"))
            .render_usage()
            .to_string();
        let usage = usage.trim_start_matches("Usage: ");
        let _ = writeln!(out, "```\n{usage}\n```\n");
        arguments(&mut out, sub);
    }
    out
}

fn global_options(out: &mut String, root: &clap::Command) {
    let globals: Vec<_> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    if globals.is_empty() {
        return;
    }
    out.push_str(
        "Global options, accepted by every subcommand:\n\n| option | description |\n|---|---|\n",
    );
    for arg in globals {
        row(out, arg);
    }
    out.push('\n');
}

fn arguments(out: &mut String, cmd: &clap::Command) {
    let args: Vec<_> = cmd
        .get_arguments()
        .filter(|a| {
            !a.is_hide_set()
                && !a.is_global_set()
                && a.get_id() != "help"
                && a.get_id() != "version"
        })
        .collect();
    if args.is_empty() {
        return;
    }
    out.push_str("| argument | description |\n|---|---|\n");
    for arg in args {
        row(out, arg);
    }
    out.push('\n');
}

fn row(out: &mut String, arg: &clap::Arg) {
    let value = arg
        .get_value_names()
        .map(|v| {
            v.iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|_| arg.get_action().takes_values());
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let name = if names.is_empty() {
        value
            .clone()
            .unwrap_or_else(|| format!("<{}>", arg.get_id()))
    } else {
        match &value {
            Some(v) => format!("{} {v}", names.join(", ")),
            None => names.join(", "),
        }
    };
    let mut help = arg
        .get_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
        .replace('\n', " ")
        .replace('|', "\\|");
    if !help.is_empty() && !help.ends_with('.') {
        help.push('.');
    }
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| p.get_name().to_owned())
        .collect();
    if !possible.is_empty() && arg.get_action().takes_values() {
        let _ = write!(help, " One of: {}.", possible.join(", "));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        let _ = write!(help, " Default: `{}`.", defaults.join(" "));
    }
    if let Some(env) = arg.get_env() {
        let _ = write!(help, " Environment: `{}`.", env.to_string_lossy());
    }
    let _ = writeln!(out, "| `{name}` | {} |", help.trim());
}
