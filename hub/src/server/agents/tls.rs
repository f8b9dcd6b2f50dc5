//! The agent listener's certificate: the operator's (`--agent-tls-cert`, `--agent-tls-key`),
//! or one generated on first start into `<data>/agent-tls/`: a CA (`ca.pem`, what agents
//! trust through GATEHOUSE_HUB_CA_FILE) and a server certificate it signed for localhost, the
//! loopback addresses and the host of `--agent-address`. The CA's key is not kept: nothing
//! else can be signed with it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Datelike;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Identity, ServerTlsConfig};

use super::AgentTls;

/// The generated material's directory under the data directory.
pub(crate) fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agent-tls")
}

/// The CA agents should trust, when the hub generated its certificate.
pub(crate) fn ca_file(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("ca.pem")
}

/// The TLS configuration of the agent listener, or `None` for plaintext.
pub(crate) fn server_config(
    tls: &AgentTls,
    data_dir: &Path,
    agent_address: &str,
) -> Result<Option<ServerTlsConfig>> {
    let (cert, key) = match tls {
        AgentTls::Plaintext => return Ok(None),
        AgentTls::Files { cert, key } => (
            std::fs::read(cert).with_context(|| {
                format!("cannot read the agent TLS certificate {}", cert.display())
            })?,
            std::fs::read(key)
                .with_context(|| format!("cannot read the agent TLS key {}", key.display()))?,
        ),
        AgentTls::Generated => generated(data_dir, agent_address)?,
    };
    Ok(Some(
        ServerTlsConfig::new().identity(Identity::from_pem(cert, key)),
    ))
}

/// Loads the generated certificate, creating it on first use.
fn generated(data_dir: &Path, agent_address: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let dir = dir(data_dir);
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    if cert_path.exists() && key_path.exists() {
        return Ok((std::fs::read(&cert_path)?, std::fs::read(&key_path)?));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let year = chrono::Utc::now().year();
    let validity = |p: &mut CertificateParams| {
        p.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
        p.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    };

    let ca_key = KeyPair::generate().context("cannot generate the agent CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "Gatehouse agent CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("cannot sign the agent CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let host = agent_address
        .rsplit_once(':')
        .map_or(agent_address, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    if !host.is_empty() && !names.iter().any(|n| n == host) {
        names.push(host.to_owned());
    }
    let key = KeyPair::generate().context("cannot generate the agent TLS key")?;
    let mut server = CertificateParams::new(names)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Gatehouse hub (agents)");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut server);
    let cert = server
        .signed_by(&key, &issuer)
        .context("cannot sign the agent TLS certificate")?;

    let chain = format!("{}{}", cert.pem(), ca_cert.pem());
    write(&dir.join("ca.pem"), ca_cert.pem().as_bytes(), false)?;
    write(&key_path, key.serialize_pem().as_bytes(), true)?;
    write(&cert_path, chain.as_bytes(), false)?;
    tracing::info!(ca = %dir.join("ca.pem").display(), "generated the agent listener's certificate");
    Ok((chain.into_bytes(), key.serialize_pem().into_bytes()))
}

fn write(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let tmp = path.with_extension("tmp");
    let mut f = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
