package gatehouse.release.env_removal_test

import data.gatehouse.release.env_removal

_env(names) := [{"name": n, "value": "x"} | some n in names]

_deployment(name, env, annotations) := {
	"kind": "Deployment",
	"metadata": {"name": name, "namespace": "shop", "annotations": annotations},
	"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "acme/checkout:2.0.0", "env": env}]}}},
}

_action(old, new) := {
	"version": 1,
	"kind": "release.deploy",
	"subject": {"release": {"id": "rel-2847"}, "manifests": new},
	"facts": {"deployed": {"release": "rel-2846", "manifests": old}},
}

_old := _deployment("checkout-service", _env(["DATABASE_URL", "CACHE_ENDPOINT", "LOG_LEVEL"]), {})

test_removed_variable_is_denied if {
	new := _deployment("checkout-service", _env(["DATABASE_URL", "LOG_LEVEL"]), {})
	results := env_removal.deny with input as _action([_old], [new])
	count(results) == 1
	some r in results
	r.msg == "Deployment shop/checkout-service: container 'app' drops the environment variable CACHE_ENDPOINT that the deployed version sets (release rel-2846); keep it, or annotate the Deployment with gatehouse.dev/allow-env-removal: \"CACHE_ENDPOINT\" if the removal is intended."
	r.object == "Deployment/shop/checkout-service"
	r.details == {"container": "app", "variable": "CACHE_ENDPOINT", "deployed_release": "rel-2846"}
}

test_unchanged_and_added_variables_are_allowed if {
	new := _deployment("checkout-service", _env(["LOG_LEVEL", "CACHE_ENDPOINT", "DATABASE_URL", "FEATURE_X"]), {})
	count(env_removal.deny) == 0 with input as _action([_old], [new])
}

test_changed_value_is_allowed if {
	new := _deployment("checkout-service", [
		{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}},
		{"name": "CACHE_ENDPOINT", "value": "redis://cache-2:6379"},
		{"name": "LOG_LEVEL", "value": "debug"},
	], {})
	count(env_removal.deny) == 0 with input as _action([_old], [new])
}

test_each_removed_variable_is_reported if {
	new := _deployment("checkout-service", [], {})
	results := env_removal.deny with input as _action([_old], [new])
	{r.details.variable | some r in results} == {"DATABASE_URL", "CACHE_ENDPOINT", "LOG_LEVEL"}
}

test_missing_env_list_removes_everything if {
	new := {"kind": "Deployment", "metadata": {"name": "checkout-service", "namespace": "shop"}, "spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}
	count(env_removal.deny) == 3 with input as _action([_old], [new])
}

test_annotation_allows_listed_removals if {
	new := _deployment("checkout-service", [], {"gatehouse.dev/allow-env-removal": "CACHE_ENDPOINT, LOG_LEVEL"})
	results := env_removal.deny with input as _action([_old], [new])
	{r.details.variable | some r in results} == {"DATABASE_URL"}
}

test_annotation_wildcard_allows_all if {
	new := _deployment("checkout-service", [], {"gatehouse.dev/allow-env-removal": "*"})
	count(env_removal.deny) == 0 with input as _action([_old], [new])
}

test_annotation_on_deployed_object_does_not_count if {
	old := _deployment("checkout-service", _env(["CACHE_ENDPOINT"]), {"gatehouse.dev/allow-env-removal": "CACHE_ENDPOINT"})
	new := _deployment("checkout-service", [], {})
	count(env_removal.deny) == 1 with input as _action([old], [new])
}

test_objects_match_by_kind_namespace_and_name if {
	renamed := _deployment("checkout-v2", [], {})
	other_ns := object.union(_deployment("checkout-service", [], {}), {"metadata": {"name": "checkout-service", "namespace": "staging"}})
	other_kind := object.union(_deployment("checkout-service", [], {}), {"kind": "StatefulSet"})
	count(env_removal.deny) == 0 with input as _action([_old], [renamed, other_ns, other_kind])
}

test_containers_match_by_name if {
	new := {"kind": "Deployment", "metadata": {"name": "checkout-service", "namespace": "shop"}, "spec": {"template": {"spec": {"containers": [
		{"name": "sidecar", "env": []},
		{"name": "app", "env": _env(["DATABASE_URL", "CACHE_ENDPOINT", "LOG_LEVEL"])},
	]}}}}
	count(env_removal.deny) == 0 with input as _action([_old], [new])
}

test_removed_container_is_not_checked if {
	new := {"kind": "Deployment", "metadata": {"name": "checkout-service", "namespace": "shop"}, "spec": {"template": {"spec": {"containers": [{"name": "app-v2"}]}}}}
	count(env_removal.deny) == 0 with input as _action([_old], [new])
}

test_removed_object_is_not_checked if {
	count(env_removal.deny) == 0 with input as _action([_old], [])
}

test_init_containers_are_compared if {
	old := {"kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}, "spec": {"template": {"spec": {
		"initContainers": [{"name": "wait", "env": _env(["DB_HOST"])}],
		"containers": [{"name": "run"}],
	}}}}
	new := {"kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}, "spec": {"template": {"spec": {
		"initContainers": [{"name": "wait"}],
		"containers": [{"name": "run"}],
	}}}}
	results := env_removal.deny with input as _action([old], [new])
	some r in results
	r.msg == "Job shop/migrate: container 'wait' drops the environment variable DB_HOST that the deployed version sets (release rel-2846); keep it, or annotate the Job with gatehouse.dev/allow-env-removal: \"DB_HOST\" if the removal is intended."
}

_cronjob(env) := {"kind": "CronJob", "metadata": {"name": "report"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "env": env}]}}}}}}

test_cronjob_is_compared if {
	count(env_removal.deny) == 1 with input as _action([_cronjob(_env(["A"]))], [_cronjob([])])
}

test_repeated_object_in_release_is_merged if {
	# An object listed twice counts as one: a variable is kept if either copy sets it.
	copy_a := _deployment("checkout-service", _env(["DATABASE_URL"]), {})
	copy_b := _deployment("checkout-service", _env(["LOG_LEVEL"]), {})
	results := env_removal.deny with input as _action([_old], [copy_a, copy_b])
	{r.details.variable | some r in results} == {"CACHE_ENDPOINT"}
}

test_duplicate_env_entries if {
	new := _deployment("checkout-service", _env(["DATABASE_URL", "DATABASE_URL", "LOG_LEVEL"]), {})
	count(env_removal.deny) == 1 with input as _action([_old], [new])
}

test_malformed_env_entries_are_ignored if {
	old := _deployment("checkout-service", [{"value": "no name"}, "text", {"name": 7}, {"name": "KEEP"}], {})
	new := _deployment("checkout-service", _env(["KEEP"]), {})
	count(env_removal.deny) == 0 with input as _action([old], [new])
	count(env_removal.deny) == 0 with input as _action([_deployment("checkout-service", null, {})], [new])
}

test_without_deployed_release_id if {
	new := _deployment("checkout-service", _env(["DATABASE_URL", "LOG_LEVEL"]), {})
	inp := {"version": 1, "kind": "release.deploy", "subject": {"manifests": [new]}, "facts": {"deployed": {"manifests": [_old]}}}
	results := env_removal.deny with input as inp
	some r in results
	r.msg == "Deployment shop/checkout-service: container 'app' drops the environment variable CACHE_ENDPOINT that the deployed version sets; keep it, or annotate the Deployment with gatehouse.dev/allow-env-removal: \"CACHE_ENDPOINT\" if the removal is intended."
	r.details.deployed_release == null
}

test_absent_facts_no_findings if {
	new := _deployment("checkout-service", [], {})
	count(env_removal.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "subject": {"manifests": [new]}}
	count(env_removal.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "facts": {"deployed": {"manifests": [_old]}}}
	count(env_removal.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "facts": {"deployed": {}}}
}
