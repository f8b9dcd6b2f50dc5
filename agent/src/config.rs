//! The agent's configuration, read entirely from `GATEHOUSE_*` environment variables (the Helm
//! chart sets them; see docs/agent.md for the table).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_agent_proto::Capability;

/// The agent's version, reported to the hub.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the agent keeps its identity (the agent token it received at registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityStore {
    /// A JSON file (mode 0600), written atomically.
    File(PathBuf),
    /// A Kubernetes Secret in the agent's namespace.
    Secret {
        /// The agent's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
}

/// How the agent's connection to the hub is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TLS, verifying the hub's certificate against the system roots, or against `ca` alone.
    Tls {
        /// A PEM file of the CA certificates to trust instead of the system's.
        ca: Option<PathBuf>,
    },
    /// TLS without verifying the hub's certificate (development only; logged loudly).
    TlsInsecure,
    /// No TLS at all (development only; the hub must be started with plaintext agents on).
    Plaintext,
}

/// Everything the agent is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The hub's gRPC endpoint, `host:port`.
    pub hub_address: String,
    /// How to secure the connection.
    pub transport: Transport,
    /// The single-use registration token, needed until the agent has an identity.
    pub registration_token: Option<String>,
    /// Where the identity lives.
    pub identity: IdentityStore,
    /// The cluster name the agent was registered under.
    pub cluster_name: String,
    /// What the agent may do.
    pub capabilities: BTreeSet<Capability>,
    /// Heartbeat period (the hub may change it).
    pub status_interval: Duration,
    /// Inventory and Argo CD status period.
    pub inventory_interval: Duration,
    /// Namespaces pod logs and events may be read from (empty: none).
    pub allowed_namespaces: Vec<String>,
    /// A directory of Rego the agent adds to its built-in local policy.
    pub policy_dir: Option<PathBuf>,
    /// Where Argo CD's Applications live.
    pub argocd_namespace: String,
    /// First reconnect delay; doubles up to `reconnect_max`, with jitter.
    pub reconnect_initial: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// An HTTPS proxy to tunnel the hub connection through (`HTTPS_PROXY`).
    pub proxy: Option<String>,
    /// Hosts that bypass the proxy (`NO_PROXY`).
    pub no_proxy: Vec<String>,
}

/// A configuration problem, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `lookup` (an environment lookup). An empty value means
    /// unset, except for GATEHOUSE_CAPABILITIES, where it means none.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let flag = |var: &'static str| -> Result<bool, ConfigError> {
            match get(var).as_deref().map(str::trim) {
                None => Ok(false),
                Some("true" | "1" | "yes") => Ok(true),
                Some("false" | "0" | "no") => Ok(false),
                Some(other) => Err(err(var, format!("`{other}` is not true or false"))),
            }
        };
        let seconds = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(var) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
                    _ => Err(err(
                        var,
                        format!("`{v}` is not a number of seconds (0 < s <= 86400)"),
                    )),
                },
            }
        };

        let address = get("GATEHOUSE_HUB_ADDRESS").ok_or_else(|| {
            err(
                "GATEHOUSE_HUB_ADDRESS",
                "required: the hub's gRPC endpoint, host:port",
            )
        })?;
        let plaintext = flag("GATEHOUSE_HUB_PLAINTEXT")?;
        let insecure = flag("GATEHOUSE_HUB_INSECURE")?;
        let (scheme, rest) = match address.split_once("://") {
            Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
            None => (None, address.as_str()),
        };
        let hub_address = rest.trim_end_matches('/').to_owned();
        if !hub_address.contains(':') || hub_address.contains('/') {
            return Err(err(
                "GATEHOUSE_HUB_ADDRESS",
                format!("`{address}` is not host:port (for example hub.example.com:50051)"),
            ));
        }
        let transport = match (scheme.as_deref(), plaintext, insecure) {
            (Some("http"), false, _) => {
                return Err(err(
                    "GATEHOUSE_HUB_ADDRESS",
                    "an http:// address sends the agent token in the clear; set GATEHOUSE_HUB_PLAINTEXT=true to allow it (development only)",
                ));
            }
            (Some("http") | None, true, _) => Transport::Plaintext,
            (Some("https"), true, _) => {
                return Err(err(
                    "GATEHOUSE_HUB_PLAINTEXT",
                    "conflicts with an https:// address",
                ));
            }
            (Some("https") | None, false, true) => Transport::TlsInsecure,
            (Some("https") | None, false, false) => Transport::Tls {
                ca: get("GATEHOUSE_HUB_CA_FILE").map(PathBuf::from),
            },
            (Some(other), _, _) => {
                return Err(err(
                    "GATEHOUSE_HUB_ADDRESS",
                    format!("unknown scheme `{other}://`"),
                ));
            }
        };

        let identity = match get("GATEHOUSE_IDENTITY_STORE_MODE").as_deref().unwrap_or("file") {
            "file" => IdentityStore::File(PathBuf::from(
                get("GATEHOUSE_AGENT_TOKEN_PATH")
                    .unwrap_or_else(|| "/var/lib/gatehouse/identity/agent.json".into()),
            )),
            "secret" => IdentityStore::Secret {
                namespace: get("GATEHOUSE_POD_NAMESPACE").ok_or_else(|| {
                    err("GATEHOUSE_POD_NAMESPACE", "required with the secret identity store (the chart sets it from the downward API)")
                })?,
                name: get("GATEHOUSE_IDENTITY_SECRET").unwrap_or_else(|| "gatehouse-agent-identity".into()),
            },
            other => {
                return Err(err(
                    "GATEHOUSE_IDENTITY_STORE_MODE",
                    format!("`{other}` is not `file` or `secret`"),
                ));
            }
        };

        let mut capabilities = BTreeSet::new();
        for name in lookup("GATEHOUSE_CAPABILITIES")
            .unwrap_or_else(|| "observe".into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let cap = Capability::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
                err(
                    "GATEHOUSE_CAPABILITIES",
                    format!("unknown capability `{name}` (known: {})", known.join(", ")),
                )
            })?;
            capabilities.insert(cap);
        }

        let list = |var: &str| -> Vec<String> {
            get(var)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let reconnect_initial = seconds("GATEHOUSE_RECONNECT_INITIAL_SECONDS", 1)?;
        let reconnect_max = seconds("GATEHOUSE_RECONNECT_MAX_SECONDS", 60)?.max(reconnect_initial);

        Ok(Config {
            hub_address,
            transport,
            registration_token: get("GATEHOUSE_REGISTRATION_TOKEN").map(|t| t.trim().to_owned()),
            identity,
            cluster_name: get("GATEHOUSE_CLUSTER_NAME").unwrap_or_else(|| "default".into()),
            capabilities,
            status_interval: seconds("GATEHOUSE_STATUS_INTERVAL_SECONDS", 30)?,
            inventory_interval: seconds("GATEHOUSE_INVENTORY_INTERVAL_SECONDS", 60)?,
            allowed_namespaces: list("GATEHOUSE_ALLOWED_NAMESPACES"),
            policy_dir: get("GATEHOUSE_POLICY_DIR").map(PathBuf::from),
            argocd_namespace: get("GATEHOUSE_ARGOCD_NAMESPACE").unwrap_or_else(|| "argocd".into()),
            reconnect_initial,
            reconnect_max,
            proxy: get("HTTPS_PROXY").or_else(|| get("https_proxy")),
            no_proxy: {
                let mut v = list("NO_PROXY");
                v.extend(list("no_proxy"));
                v
            },
        })
    }

    /// Whether the agent was installed with `cap`.
    pub fn has(&self, cap: Capability) -> bool {
        self.capabilities.contains(&cap)
    }

    /// The capabilities as the hub sees them (dotted names).
    pub fn capability_names(&self) -> Vec<String> {
        self.capabilities
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_parsing() {
        let c = config(&[
            ("GATEHOUSE_HUB_ADDRESS", "hub.example.com:50051"),
            (
                "GATEHOUSE_CAPABILITIES",
                "observe, kubernetesScale,argocd.read",
            ),
            ("GATEHOUSE_ALLOWED_NAMESPACES", "shop, payments"),
        ])
        .unwrap();
        assert_eq!(c.hub_address, "hub.example.com:50051");
        assert_eq!(c.transport, Transport::Tls { ca: None });
        assert_eq!(c.cluster_name, "default");
        assert_eq!(
            c.capability_names(),
            ["observe", "argocd.read", "kubernetes.scale"]
        );
        assert_eq!(c.allowed_namespaces, ["shop", "payments"]);
        assert_eq!(c.status_interval, Duration::from_secs(30));
        assert_eq!(
            c.identity,
            IdentityStore::File("/var/lib/gatehouse/identity/agent.json".into())
        );
    }

    #[test]
    fn empty_capabilities_mean_none() {
        let c = config(&[
            ("GATEHOUSE_HUB_ADDRESS", "h:1"),
            ("GATEHOUSE_CAPABILITIES", ""),
        ])
        .unwrap();
        assert!(c.capabilities.is_empty());
        let c = config(&[
            ("GATEHOUSE_HUB_ADDRESS", "h:1"),
            ("GATEHOUSE_CLUSTER_NAME", " "),
        ])
        .unwrap();
        assert_eq!(c.cluster_name, "default", "an empty value is unset");
    }

    #[test]
    fn plaintext_must_be_explicit() {
        let e = config(&[("GATEHOUSE_HUB_ADDRESS", "http://127.0.0.1:5")]).unwrap_err();
        assert_eq!(e.var, "GATEHOUSE_HUB_ADDRESS");
        assert!(e.message.contains("GATEHOUSE_HUB_PLAINTEXT"), "{e}");
        let c = config(&[
            ("GATEHOUSE_HUB_ADDRESS", "http://127.0.0.1:5"),
            ("GATEHOUSE_HUB_PLAINTEXT", "true"),
        ])
        .unwrap();
        assert_eq!(c.transport, Transport::Plaintext);
        assert_eq!(c.hub_address, "127.0.0.1:5");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "GATEHOUSE_HUB_ADDRESS"),
            (
                &[("GATEHOUSE_HUB_ADDRESS", "nohostport")],
                "GATEHOUSE_HUB_ADDRESS",
            ),
            (
                &[
                    ("GATEHOUSE_HUB_ADDRESS", "h:1"),
                    ("GATEHOUSE_CAPABILITIES", "observe,fly"),
                ],
                "GATEHOUSE_CAPABILITIES",
            ),
            (
                &[
                    ("GATEHOUSE_HUB_ADDRESS", "h:1"),
                    ("GATEHOUSE_IDENTITY_STORE_MODE", "secret"),
                ],
                "GATEHOUSE_POD_NAMESPACE",
            ),
            (
                &[
                    ("GATEHOUSE_HUB_ADDRESS", "h:1"),
                    ("GATEHOUSE_STATUS_INTERVAL_SECONDS", "-4"),
                ],
                "GATEHOUSE_STATUS_INTERVAL_SECONDS",
            ),
            (
                &[
                    ("GATEHOUSE_HUB_ADDRESS", "h:1"),
                    ("GATEHOUSE_HUB_INSECURE", "maybe"),
                ],
                "GATEHOUSE_HUB_INSECURE",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(config(vars).unwrap_err().var, *var, "{vars:?}");
        }
    }
}
