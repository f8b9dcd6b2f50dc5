package gatehouse.k8s.pod_security_test

import data.gatehouse.k8s.pod_security

_action(manifests) := {"version": 1, "kind": "release.deploy", "subject": {"manifests": manifests}}

_daemonset(spec) := {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "monitoring"}, "spec": {"template": {"spec": spec}}}

test_privileged_container_is_denied if {
	spec := {"containers": [{"name": "agent", "image": "acme/agent:1.0", "securityContext": {"privileged": true}}]}
	results := pod_security.deny with input as _action([_daemonset(spec)])
	count(results) == 1
	some r in results
	r.msg == "DaemonSet monitoring/agent: container 'agent' runs privileged (securityContext.privileged: true); remove it and add only the capabilities the container needs under securityContext.capabilities.add."
	r.object == "DaemonSet/monitoring/agent"
	r.details.check == "privileged"
}

test_unprivileged_container_is_allowed if {
	spec := {"containers": [
		{"name": "a", "image": "acme/agent:1.0", "securityContext": {"privileged": false}},
		{"name": "b", "image": "acme/agent:1.0", "securityContext": {"runAsNonRoot": true}},
		{"name": "c", "image": "acme/agent:1.0"},
	]}
	count(pod_security.deny) == 0 with input as _action([_daemonset(spec)])
}

test_privileged_init_container_is_denied if {
	spec := {"initContainers": [{"name": "sysctl", "securityContext": {"privileged": true}}], "containers": [{"name": "app"}]}
	results := pod_security.deny with input as _action([_daemonset(spec)])
	some r in results
	r.msg == "DaemonSet monitoring/agent: init container 'sysctl' runs privileged (securityContext.privileged: true); remove it and add only the capabilities the container needs under securityContext.capabilities.add."
}

test_privileged_string_is_not_true if {
	spec := {"containers": [{"name": "a", "securityContext": {"privileged": "true"}}]}
	count(pod_security.deny) == 0 with input as _action([_daemonset(spec)])
}

test_host_path_volume_is_denied if {
	spec := {"containers": [{"name": "agent"}], "volumes": [{"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}}]}
	results := pod_security.deny with input as _action([_daemonset(spec)])
	count(results) == 1
	some r in results
	r.msg == "DaemonSet monitoring/agent: volume 'docker-sock' mounts the node path '/var/run/docker.sock' (hostPath); use a persistentVolumeClaim, configMap, secret or emptyDir volume instead."
	r.details.check == "hostPath"
}

test_other_volumes_are_allowed if {
	spec := {"containers": [{"name": "app"}], "volumes": [
		{"name": "cache", "emptyDir": {}},
		{"name": "config", "configMap": {"name": "settings"}},
		{"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
	]}
	count(pod_security.deny) == 0 with input as _action([_daemonset(spec)])
}

test_allowed_host_paths if {
	spec := {"containers": [{"name": "agent"}], "volumes": [
		{"name": "logs", "hostPath": {"path": "/var/log"}},
		{"name": "pods", "hostPath": {"path": "/var/log/pods"}},
		{"name": "lookalike", "hostPath": {"path": "/var/logs"}},
		{"name": "root", "hostPath": {"path": "/"}},
	]}
	results := pod_security.deny with input as _action([_daemonset(spec)])
		with data.gatehouse.config.allowed_host_paths as ["/var/log/"]
	{r.details.volume | some r in results} == {"lookalike", "root"}
}

test_both_findings_on_one_object if {
	spec := {"containers": [{"name": "agent", "securityContext": {"privileged": true}}], "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}
	results := pod_security.deny with input as _action([_daemonset(spec)])
	{r.details.check | some r in results} == {"privileged", "hostPath"}
}

test_pod_and_cronjob_are_checked if {
	pod := {"kind": "Pod", "metadata": {"name": "debug"}, "spec": {"containers": [{"name": "sh", "securityContext": {"privileged": true}}]}}
	cj := {"kind": "CronJob", "metadata": {"name": "backup", "namespace": "ops"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
		"containers": [{"name": "b"}],
		"volumes": [{"name": "host", "hostPath": {"path": "/data"}}],
	}}}}}}
	results := pod_security.deny with input as _action([pod, cj])
	{r.object | some r in results} == {"Pod/default/debug", "CronJob/ops/backup"}
}

test_absent_fields_no_findings if {
	count(pod_security.deny) == 0 with input as {"version": 1, "kind": "release.deploy"}
	count(pod_security.deny) == 0 with input as _action([_daemonset({"volumes": null, "containers": [{"name": "a", "securityContext": null}]})])
}
