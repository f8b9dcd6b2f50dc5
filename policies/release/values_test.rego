package gatehouse.release.values_test

import data.gatehouse.release.values

_rules := [{
	"name": "prod-values",
	"environments": ["production"],
	"required": ["image.tag"],
	"forbidden": ["debug"],
	"keys": {
		"replicaCount": {"type": "integer", "minimum": 2},
		"image.tag": {"type": "string", "pattern": `^v?[0-9]+\.[0-9]+\.[0-9]+$`},
	},
}]

_release(env, changes) := {
	"version": 1,
	"kind": "release.deploy",
	"scope": {"org": "acme", "environment": env},
	"subject": {"release": {"id": "rel-1", "changes": changes}},
}

test_a_bad_change_names_the_key if {
	results := values.deny with input as _release("production", [{"workload": "checkout", "path": "replicaCount", "after": 1}])
		with data.gatehouse.config.values_rules as _rules
	count(results) == 1
	some r in results
	r.msg == "Helm value replicaCount of checkout in production is 1, below the minimum of 2 (values rule 'prod-values')."
	r.details.key == "replicaCount"
}

test_pattern_required_and_forbidden if {
	changes := [
		{"workload": "checkout", "path": "image.tag", "after": "latest"},
		{"workload": "cart", "path": "image.tag"},
		{"workload": "cart", "path": "debug", "after": true},
	]
	results := values.deny with input as _release("production", changes) with data.gatehouse.config.values_rules as _rules
	count(results) == 3
}

test_good_changes_and_other_environments_pass if {
	count(values.deny) == 0 with input as _release("production", [{"workload": "checkout", "path": "image.tag", "after": "1.2.3"}])
		with data.gatehouse.config.values_rules as _rules
	count(values.deny) == 0 with input as _release("staging", [{"workload": "checkout", "path": "replicaCount", "after": 1}])
		with data.gatehouse.config.values_rules as _rules
}

test_no_rules_no_findings if {
	count(values.deny) == 0 with input as _release("production", [{"workload": "checkout", "path": "replicaCount", "after": 1}])
}

test_full_values_in_context if {
	inp := object.union(_release("production", []), {"context": {"values": {"replicaCount": 3}}})
	some r in values.deny with input as inp with data.gatehouse.config.values_rules as _rules
	r.msg == "Helm value image.tag in production is missing, but it is required here; set it (values rule 'prod-values')."
}
