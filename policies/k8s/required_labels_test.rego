package gatehouse.k8s.required_labels_test

import data.gatehouse.k8s.required_labels

_labels := {"app.kubernetes.io/name": "payment-api", "app.kubernetes.io/instance": "payment-api-tenant-a"}

_action(manifests) := {"version": 1, "kind": "render", "subject": {"manifests": manifests}}

_deployment(labels) := {"kind": "Deployment", "metadata": {"name": "api", "namespace": "payments", "labels": labels}}

test_labelled_object_is_allowed if {
	count(required_labels.deny) == 0 with input as _action([_deployment(_labels)])
}

test_missing_one_label if {
	results := required_labels.deny with input as _action([_deployment({"app.kubernetes.io/name": "payment-api"})])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api is missing the required label app.kubernetes.io/instance; add it under metadata.labels."
	r.object == "Deployment/payments/api"
	r.details.missing == ["app.kubernetes.io/instance"]
	r.severity == "low"
}

test_missing_all_labels_is_one_finding if {
	obj := {"kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "payments"}}
	results := required_labels.deny with input as _action([obj])
	count(results) == 1
	some r in results
	r.msg == "ConfigMap payments/settings is missing the required labels app.kubernetes.io/name, app.kubernetes.io/instance; add them under metadata.labels."
}

test_empty_label_value_counts_as_missing if {
	labels := {"app.kubernetes.io/name": "", "app.kubernetes.io/instance": "x"}
	results := required_labels.deny with input as _action([_deployment(labels)])
	some r in results
	r.details.missing == ["app.kubernetes.io/name"]
}

test_every_kind_is_checked if {
	objs := [
		{"kind": "Service", "metadata": {"name": "api", "namespace": "payments"}},
		{"kind": "Namespace", "metadata": {"name": "payments"}},
		_deployment(_labels),
	]
	results := required_labels.deny with input as _action(objs)
	{r.object | some r in results} == {"Service/payments/api", "Namespace/payments"}
}

test_cluster_scoped_objects_are_named_without_namespace if {
	results := required_labels.deny with input as _action([{"kind": "ClusterRole", "metadata": {"name": "reader", "labels": {"app.kubernetes.io/name": "x"}}}])
	some r in results
	r.msg == "ClusterRole reader is missing the required label app.kubernetes.io/instance; add it under metadata.labels."
}

test_configured_labels if {
	results := required_labels.deny with input as _action([_deployment(_labels)])
		with data.gatehouse.config.required_labels as ["team", "app.kubernetes.io/name"]
	some r in results
	r.details.missing == ["team"]
}

test_empty_configuration_requires_nothing if {
	count(required_labels.deny) == 0 with input as _action([{"kind": "Service", "metadata": {"name": "x"}}])
		with data.gatehouse.config.required_labels as []
}

test_objects_without_kind_are_ignored if {
	count(required_labels.deny) == 0 with input as _action([{"metadata": {"name": "x"}}, "not an object"])
}

test_no_manifests_no_findings if {
	count(required_labels.deny) == 0 with input as {"version": 1, "kind": "render"}
}
