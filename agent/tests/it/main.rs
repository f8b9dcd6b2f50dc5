//! The agent's integration tests: the real `kube` client against a server speaking the
//! Kubernetes REST wire format, and the real hub and agent processes on loopback.

mod drift;
mod e2e;
mod fake_kube;
mod fake_kube_wire;
mod hostile;
mod identity_secret;
mod procs;
mod raw;
