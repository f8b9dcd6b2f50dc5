# METADATA
# title: The agent's own limits on commands
# description: |
#   Every command the hub sends is checked again inside the cluster, by the agent's
#   copy of the decision core, before it touches anything. These rules hold even if
#   the hub is compromised: commands may not touch the protected namespaces
#   (data.agent.protected_namespaces), and a scale may not exceed
#   data.agent.max_replicas. Operators add their own rules with GATEHOUSE_POLICY_DIR
#   (the chart's localPolicy.rego).
# custom:
#   kinds: [command]
#   severity: high
package gatehouse.agent.command

default_protected := ["kube-system", "kube-public", "kube-node-lease"]

protected contains ns if {
	some ns in object.get(data, ["agent", "protected_namespaces"], default_protected)
}

command := input.subject.command

deny contains msg if {
	command.target.namespace in protected
	msg := sprintf(
		"namespace %s is protected on this cluster: no %s command may touch it",
		[command.target.namespace, command.type],
	)
}

deny contains msg if {
	command.type == "scale"
	limit := object.get(data, ["agent", "max_replicas"], 100)
	command.params.replicas > limit
	msg := sprintf(
		"scaling %s/%s to %d replicas exceeds this cluster's limit of %d",
		[command.target.namespace, command.target.name, command.params.replicas, limit],
	)
}
