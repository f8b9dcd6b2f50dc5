package gatehouse.agent.command_test

import data.gatehouse.agent.command

scale(ns, n) := {
	"kind": "command",
	"subject": {"command": {
		"type": "scale",
		"target": {"kind": "Deployment", "namespace": ns, "name": "api"},
		"params": {"replicas": n},
	}},
}

test_an_ordinary_scale_is_allowed if {
	count(command.deny) == 0 with input as scale("shop", 3)
}

test_protected_namespaces_are_refused if {
	some msg in command.deny with input as scale("kube-system", 3)
	contains(msg, "kube-system is protected")
}

test_the_replica_limit_holds if {
	some msg in command.deny with input as scale("shop", 500)
	contains(msg, "limit of 100")
}

test_the_limits_come_from_data if {
	count(command.deny) == 0 with input as scale("kube-system", 500)
		with data.agent as {"protected_namespaces": [], "max_replicas": 1000}
}
