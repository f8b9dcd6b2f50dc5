# The same evaluation a Gatehouse release.deploy decision performs: every rule of every
# built-in policy bound in production, collected in one document. Used to time OPA on the
# identical Rego and input (see tests/bench/compare.sh).
package gatehouse_bench

all := [
	[x | x := data.gatehouse.k8s.resource_limits.deny],
	[x | x := data.gatehouse.k8s.image_tags.deny],
	[x | x := data.gatehouse.k8s.required_labels.deny],
	[x | x := data.gatehouse.k8s.pod_security.deny],
	[x | x := data.gatehouse.k8s.replicas.deny],
	[x | x := data.gatehouse.release.env_removal.deny],
	[x | x := data.gatehouse.governance.freeze.deny],
	[x | x := data.gatehouse.governance.approvals.deny],
	[x | x := data.gatehouse.governance.approvals.requirement],
]
