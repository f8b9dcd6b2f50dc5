//! `gatehouse admin` and `gatehouse audit`: direct work on a hub's store (safe beside a running
//! hub: SQLite serialises the writers).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::{AdminArgs, AdminCommand, AuditArgs, AuditCommand, DataDirArg};
use crate::server::store::Store;
use crate::server::{identity_admin, verify_audit};

/// The data directory: the flag or `GATEHOUSE_DATA_DIR`, else `$XDG_DATA_HOME/gatehouse`, else
/// `~/.local/share/gatehouse`.
pub(crate) fn data_dir(arg: &DataDirArg) -> Result<PathBuf> {
    if let Some(d) = &arg.data_dir {
        return Ok(d.clone());
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("gatehouse"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/gatehouse")),
        None => bail!("no data directory: pass --data-dir or set GATEHOUSE_DATA_DIR"),
    }
}

fn open(arg: &DataDirArg) -> Result<Store> {
    let dir = data_dir(arg)?;
    let db = dir.join("gatehouse.db");
    if !db.exists() {
        bail!(
            "{} does not exist: is --data-dir the hub's data directory?",
            db.display()
        );
    }
    Store::open(&db).with_context(|| format!("cannot open {}", db.display()))
}

pub(crate) fn run(args: AdminArgs) -> Result<ExitCode> {
    let store = open(&args.data)?;
    let token = match &args.command {
        AdminCommand::CreateOrg { name, owner } => {
            crate::server::resources::check_name(name).map_err(|e| anyhow::anyhow!(e.message))?;
            crate::server::resources::check_name(owner).map_err(|e| anyhow::anyhow!(e.message))?;
            store.write(|tx| identity_admin::create_org(tx, name, owner))?
        }
        AdminCommand::Token { org, user } => {
            store.write(|tx| identity_admin::admin_token(tx, org, user))?
        }
    };
    outln!("{token}")?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn audit(args: AuditArgs) -> Result<ExitCode> {
    let store = open(&args.data)?;
    match args.command {
        AuditCommand::Verify => {
            let mut bad = false;
            for r in verify_audit(&store)? {
                match &r.problem {
                    None => outln!("{}: {} entries, chain intact", r.org, r.entries)?,
                    Some(p) => {
                        bad = true;
                        outln!("{}: TAMPERED: {p}", r.org)?;
                    }
                }
            }
            Ok(if bad {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
