//! The connection to the hub: TCP (through an HTTP CONNECT proxy when `HTTPS_PROXY` says so),
//! then TLS with rustls (verifying against the system roots or a given CA; skipping
//! verification only when told to), then HTTP/2 for gRPC.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint};

use crate::config::{Config, Transport};

/// How long dialing the hub may take (TCP, proxy and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

#[derive(Clone)]
struct Dialer {
    tls: Option<Arc<ClientConfig>>,
    proxy: Option<String>,
}

/// Opens a gRPC channel to the hub as configured.
pub async fn channel(config: &Config) -> Result<Channel> {
    let tls = match &config.transport {
        Transport::Plaintext => None,
        Transport::Tls { ca } => Some(verifying(ca.as_deref())?),
        Transport::TlsInsecure => Some(insecure()?),
    };
    let proxy = config.proxy.clone().filter(|_| {
        let host = host_of(&config.hub_address);
        !config.no_proxy.iter().any(|n| {
            n == "*" || host == n || host.ends_with(&format!(".{}", n.trim_start_matches('.')))
        })
    });
    let dialer = Dialer { tls, proxy };
    // The URI says http even over TLS: the connector below does the TLS itself (with the
    // verification and proxy rules above), and tonic refuses https URIs it does not secure.
    let endpoint = Endpoint::from_shared(format!("http://{}", config.hub_address))
        .context("the hub address is not a valid URI authority")?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let connector = tower::service_fn(move |uri: http::Uri| {
        let dialer = dialer.clone();
        async move { dialer.dial(uri).await.map(TokioIo::new) }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .with_context(|| format!("cannot connect to the hub at {}", config.hub_address))
}

fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl Dialer {
    async fn dial(&self, uri: http::Uri) -> Result<Box<dyn Io>, std::io::Error> {
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let target = format!("{host}:{port}");
        let tcp = match &self.proxy {
            None => TcpStream::connect(&target).await?,
            Some(proxy) => connect_via(proxy, &target).await?,
        };
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await?;
        Ok(Box::new(stream))
    }
}

/// Tunnels to `target` through an HTTP proxy (`http://host:port`) with CONNECT.
async fn connect_via(proxy: &str, target: &str) -> std::io::Result<TcpStream> {
    let other = |m: String| std::io::Error::other(m);
    let authority = proxy
        .strip_prefix("http://")
        .ok_or_else(|| {
            other(format!(
                "HTTPS_PROXY `{proxy}`: only http:// proxies are supported"
            ))
        })?
        .trim_end_matches('/');
    let mut tcp = TcpStream::connect(authority).await?;
    tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8 * 1024 || tcp.read(&mut byte).await? == 0 {
            return Err(other(format!(
                "the proxy {authority} closed or sent an oversized answer to CONNECT"
            )));
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head);
    let line = status.lines().next().unwrap_or_default();
    if line.split_whitespace().nth(1) != Some("200") {
        return Err(other(format!(
            "the proxy {authority} refused CONNECT {target}: {line}"
        )));
    }
    Ok(tcp)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn finish(
    builder: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
) -> Arc<ClientConfig> {
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// TLS verifying the hub's certificate against `ca` (a PEM file) or the system's roots.
fn verifying(ca: Option<&std::path::Path>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("GATEHOUSE_HUB_CA_FILE: cannot read {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("GATEHOUSE_HUB_CA_FILE: {} is not PEM", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                bail!(
                    "GATEHOUSE_HUB_CA_FILE: {} holds no usable certificate",
                    path.display()
                );
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                bail!(
                    "no system CA certificates were found; set GATEHOUSE_HUB_CA_FILE to the hub's CA"
                );
            }
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS setup failed")?
        .with_root_certificates(roots);
    Ok(finish(builder))
}

/// TLS that accepts any certificate (development only).
fn insecure() -> Result<Arc<ClientConfig>> {
    tracing::warn!(
        "GATEHOUSE_HUB_INSECURE is set: the hub's certificate is NOT verified; anyone on the path can impersonate the hub"
    );
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup failed")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)));
    Ok(finish(builder))
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
