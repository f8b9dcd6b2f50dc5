package gatehouse.lib.k8s_test

import data.gatehouse.lib.k8s

_action(manifests) := {"version": 1, "kind": "render", "subject": {"manifests": manifests}}

_deployment := {
	"kind": "Deployment",
	"metadata": {"name": "api", "namespace": "payments"},
	"spec": {"template": {"spec": {
		"initContainers": [{"name": "migrate"}],
		"containers": [{"name": "app"}, {"name": "proxy"}],
	}}},
}

test_workloads_cover_pod_bearing_kinds if {
	manifests := [
		_deployment,
		{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}},
		{"kind": "CronJob", "metadata": {"name": "cj", "namespace": "batch"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "run"}]}}}}}},
		{"kind": "Service", "metadata": {"name": "api"}},
		{"kind": "ConfigMap", "metadata": {"name": "cfg"}},
	]
	ws := k8s.workloads with input as _action(manifests)
	[w.ref | some w in ws] == ["Deployment/payments/api", "Pod/default/p", "CronJob/batch/cj"]
	ws[2].pod_spec == {"containers": [{"name": "run"}]}
	ws[1].pod_spec == {"containers": []}
	ws[0].object == _deployment
}

test_containers_include_init_and_ephemeral if {
	pod := {"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {
		"containers": [{"name": "app"}],
		"initContainers": [{"name": "init"}],
		"ephemeralContainers": [{"name": "debug"}],
	}}
	cs := k8s.containers with input as _action([pod])
	{[c.field, c.name, c.ref] | some c in cs} == {
		["initContainers", "init", "Pod/x/p"],
		["containers", "app", "Pod/x/p"],
		["ephemeralContainers", "debug", "Pod/x/p"],
	}
	{k8s.describe(c) | some c in cs} == {"init container 'init'", "container 'app'", "ephemeral container 'debug'"}
}

test_containers_keep_their_workload if {
	cs := k8s.containers with input as _action([_deployment])
	count(cs) == 3
	every c in cs {
		c.workload.ref == "Deployment/payments/api"
		k8s.title(c.workload) == "Deployment payments/api"
	}
}

test_malformed_entries_are_skipped if {
	manifests := [
		"text",
		42,
		{"kind": "Deployment"},
		{"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": "oops"}}}},
		{"kind": "Pod", "metadata": {"name": "y"}, "spec": {"containers": ["oops", null]}},
		{"kind": "Job", "metadata": {"name": "z"}, "spec": {"template": {"spec": null}}},
	]
	ws := k8s.workloads with input as _action(manifests)
	[w.ref | some w in ws] == ["Deployment/default/", "Deployment/default/x", "Pod/default/y", "Job/default/z"]
	count(k8s.containers) == 0 with input as _action(manifests)
}

test_absent_manifests if {
	count(k8s.workloads) == 0 with input as {"version": 1, "kind": "render"}
	count(k8s.containers) == 0 with input as {"version": 1, "kind": "render", "subject": {"manifests": {"not": "a list"}}}
	count(k8s.deployed_workloads) == 0 with input as {"version": 1, "kind": "render", "facts": {"deployed": {}}}
}

test_deployed_workloads if {
	ws := k8s.deployed_workloads with input as {"kind": "release.deploy", "facts": {"deployed": {"manifests": [_deployment]}}}
	[w.ref | some w in ws] == ["Deployment/payments/api"]
}

test_refs_and_titles if {
	k8s.ref({"kind": "Namespace", "metadata": {"name": "payments"}}) == "Namespace/payments"
	k8s.ref({"kind": "Service", "metadata": {"name": "api"}}) == "Service/default/api"
	k8s.ref({"kind": "Service", "metadata": {"name": "api", "namespace": "shop"}}) == "Service/shop/api"
	k8s.object_title({"kind": "ClusterRole", "metadata": {"name": "view"}}) == "ClusterRole view"
	k8s.object_title({"kind": "Service", "metadata": {"name": "api"}}) == "Service default/api"
}

test_pod_spec if {
	k8s.pod_spec(_deployment) == _deployment.spec.template.spec
	k8s.pod_spec({"kind": "Pod", "spec": {"containers": []}}) == {"containers": []}
	k8s.pod_spec({"kind": "Job", "spec": {}}) == {}
	not k8s.pod_spec({"kind": "Service", "spec": {}})
}

test_labels_and_annotations if {
	obj := {"metadata": {"labels": {"a": "1"}, "annotations": {"b": "2"}}}
	k8s.label(obj, "a") == "1"
	k8s.label(obj, "x") == ""
	k8s.annotation(obj, "b") == "2"
	k8s.annotation({}, "b") == ""
}
