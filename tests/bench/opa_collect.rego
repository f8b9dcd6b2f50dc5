# The Rego part of a Gatehouse release.deploy decision: every rule of every built-in policy
# bound in production that OPA can run, collected in one document. The governance policies
# (approvals, freeze) and release.values call Gatehouse's WebAssembly plugins through the
# gatehouse.plugin built-in, which OPA does not have, so they are left out here and, for the
# like-with-like figure, on Gatehouse's side too (tests/bench/rego_only.yaml).
# Used by tests/bench/compare.sh.
package gatehouse_bench

all := [
	[x | x := data.gatehouse.k8s.resource_limits.deny],
	[x | x := data.gatehouse.k8s.image_tags.deny],
	[x | x := data.gatehouse.k8s.required_labels.deny],
	[x | x := data.gatehouse.k8s.pod_security.deny],
	[x | x := data.gatehouse.k8s.replicas.deny],
	[x | x := data.gatehouse.release.env_removal.deny],
]
