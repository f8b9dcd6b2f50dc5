package gatehouse.k8s.replicas_test

import data.gatehouse.k8s.replicas

_action(manifests) := {"version": 1, "kind": "release.deploy", "subject": {"manifests": manifests}}

_deployment(spec) := {"kind": "Deployment", "metadata": {"name": "api", "namespace": "payments"}, "spec": spec}

test_one_replica_is_denied if {
	results := replicas.deny with input as _action([_deployment({"replicas": 1})])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api runs 1 replica(s); at least 2 are required. Set spec.replicas to 2 or more."
	r.object == "Deployment/payments/api"
	r.details == {"replicas": 1, "min_replicas": 2}
}

test_missing_replicas_means_one if {
	results := replicas.deny with input as _action([_deployment({})])
	some r in results
	r.msg == "Deployment payments/api does not set spec.replicas, so it runs 1 replica; at least 2 are required. Set spec.replicas to 2 or more."
	r.details.replicas == 1
}

test_enough_replicas_are_allowed if {
	count(replicas.deny) == 0 with input as _action([_deployment({"replicas": 2}), _deployment({"replicas": 5})])
}

test_zero_replicas_is_denied if {
	count(replicas.deny) == 1 with input as _action([_deployment({"replicas": 0})])
}

test_statefulset_is_checked if {
	sts := {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "data"}, "spec": {"replicas": 1}}
	results := replicas.deny with input as _action([sts])
	some r in results
	r.object == "StatefulSet/data/db"
}

test_other_kinds_are_not_checked if {
	objs := [
		{"kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {}},
		{"kind": "Job", "metadata": {"name": "migrate"}, "spec": {"parallelism": 1}},
		{"kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {"replicas": 1}},
	]
	count(replicas.deny) == 0 with input as _action(objs)
}

test_configured_minimum if {
	count(replicas.deny) == 1 with input as _action([_deployment({"replicas": 2})])
		with data.gatehouse.config.min_replicas as 3
	count(replicas.deny) == 0 with input as _action([_deployment({})])
		with data.gatehouse.config.min_replicas as 1
}

test_non_numeric_replicas_is_denied if {
	results := replicas.deny with input as _action([_deployment({"replicas": "3"})])
	some r in results
	r.msg == "Deployment payments/api sets spec.replicas to '3', which is not a number; set it to 2 or more."
}

_hpa(min) := {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "api", "namespace": "payments"}, "spec": {
	"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
	"minReplicas": min,
	"maxReplicas": 10,
}}

test_autoscaled_deployment_uses_min_replicas if {
	count(replicas.deny) == 0 with input as _action([_deployment({}), _hpa(3)])
}

test_autoscaler_with_low_minimum_is_denied if {
	results := replicas.deny with input as _action([_deployment({"replicas": 4}), _hpa(1)])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api is scaled by HorizontalPodAutoscaler payments/api down to 1 replica(s); at least 2 are required. Set spec.minReplicas of the autoscaler to 2 or more."
	r.details.autoscaler == "HorizontalPodAutoscaler/payments/api"
}

test_autoscaler_without_minimum_defaults_to_one if {
	hpa := {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "api", "namespace": "payments"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 4}}
	count(replicas.deny) == 1 with input as _action([_deployment({"replicas": 3}), hpa])
}

test_autoscaler_in_other_namespace_does_not_count if {
	hpa := object.union(_hpa(3), {"metadata": {"name": "api", "namespace": "other"}})
	count(replicas.deny) == 1 with input as _action([_deployment({}), hpa])
}

test_no_manifests_no_findings if {
	count(replicas.deny) == 0 with input as {"version": 1, "kind": "release.deploy"}
}
