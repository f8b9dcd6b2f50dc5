package gatehouse.k8s.resource_limits_test

import data.gatehouse.k8s.resource_limits

_limited := {"name": "app", "image": "ghcr.io/acme/api:1.5.0", "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}}

_deployment(containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "api", "namespace": "payments"},
	"spec": {"template": {"spec": {"containers": containers}}},
}

_action(manifests) := {"version": 1, "kind": "release.deploy", "subject": {"manifests": manifests}}

test_container_without_limits_is_denied if {
	results := resource_limits.deny with input as _action([_deployment([{"name": "app", "image": "api:1"}])])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api: container 'app' has no resource limits; set resources.limits.cpu and resources.limits.memory."
	r.object == "Deployment/payments/api"
	r.severity == "high"
	r.details.missing == ["resources.limits.cpu", "resources.limits.memory"]
}

test_container_with_limits_is_allowed if {
	results := resource_limits.deny with input as _action([_deployment([_limited])])
	count(results) == 0
}

test_missing_memory_limit_only if {
	c := {"name": "app", "resources": {"limits": {"cpu": "1"}}}
	results := resource_limits.deny with input as _action([_deployment([c])])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api: container 'app' has no memory limit; set resources.limits.memory."
}

test_missing_cpu_limit_only if {
	c := {"name": "app", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "1"}}}
	results := resource_limits.deny with input as _action([_deployment([c])])
	some r in results
	r.msg == "Deployment payments/api: container 'app' has no cpu limit; set resources.limits.cpu."
}

test_requests_are_not_limits if {
	c := {"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
	results := resource_limits.deny with input as _action([_deployment([c])])
	count(results) == 1
}

test_empty_limit_values_count_as_missing if {
	c := {"name": "app", "resources": {"limits": {"cpu": "", "memory": null}}}
	results := resource_limits.deny with input as _action([_deployment([c])])
	count(results) == 1
}

test_init_containers_are_checked if {
	d := {"kind": "Deployment", "metadata": {"name": "api", "namespace": "payments"}, "spec": {"template": {"spec": {
		"initContainers": [{"name": "migrate", "image": "ghcr.io/acme/migrate:1.5.0"}],
		"containers": [_limited],
	}}}}
	results := resource_limits.deny with input as _action([d])
	count(results) == 1
	some r in results
	r.msg == "Deployment payments/api: init container 'migrate' has no resource limits; set resources.limits.cpu and resources.limits.memory."
}

test_ephemeral_containers_are_not_checked if {
	pod := {"kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": {
		"containers": [_limited],
		"ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36"}],
	}}
	results := resource_limits.deny with input as _action([pod])
	count(results) == 0
}

test_every_pod_bearing_kind_is_checked if {
	bare := {"name": "c"}
	tmpl := {"template": {"spec": {"containers": [bare]}}}
	manifests := [
		{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [bare]}},
		{"kind": "Deployment", "metadata": {"name": "d"}, "spec": tmpl},
		{"kind": "StatefulSet", "metadata": {"name": "s"}, "spec": tmpl},
		{"kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": tmpl},
		{"kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": tmpl},
		{"kind": "ReplicationController", "metadata": {"name": "rc"}, "spec": tmpl},
		{"kind": "Job", "metadata": {"name": "j"}, "spec": tmpl},
		{"kind": "CronJob", "metadata": {"name": "cj"}, "spec": {"jobTemplate": {"spec": tmpl}}},
		{"kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}},
		{"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "b"}},
	]
	results := resource_limits.deny with input as _action(manifests)
	{r.object | some r in results} == {
		"Pod/default/p", "Deployment/default/d", "StatefulSet/default/s", "DaemonSet/default/ds",
		"ReplicaSet/default/rs", "ReplicationController/default/rc", "Job/default/j", "CronJob/default/cj",
	}
}

test_each_container_reported_separately if {
	results := resource_limits.deny with input as _action([_deployment([{"name": "a"}, _limited, {"name": "b"}])])
	{r.details.container | some r in results} == {"a", "b"}
}

test_no_manifests_no_findings if {
	count(resource_limits.deny) == 0 with input as {"version": 1, "kind": "release.deploy"}
	count(resource_limits.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "subject": {}}
	count(resource_limits.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "subject": {"manifests": null}}
}

test_workload_without_pod_spec_is_ignored if {
	d := {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}
	count(resource_limits.deny) == 0 with input as _action([d])
}

test_null_container_list_is_ignored if {
	count(resource_limits.deny) == 0 with input as _action([_deployment(null)])
}


test_render_is_checked if {
	count(resource_limits.deny) == 1 with input as object.union(_action([_deployment([{"name": "app"}])]), {"kind": "render"})
}
