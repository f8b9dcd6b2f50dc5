# METADATA
# title: No privileged containers or hostPath volumes
# description: |
#   Pod-bearing objects must not run privileged containers
#   (securityContext.privileged: true, checked on init, regular and ephemeral
#   containers) and must not mount directories of the node (hostPath volumes).
#   Either gives the workload control over the node. Node paths listed in
#   data.gatehouse.config.allowed_host_paths (default none) may be mounted.
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: high
package gatehouse.k8s.pod_security

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.containers
import data.gatehouse.lib.k8s.workloads

# Node paths (and the paths under them) that hostPath volumes may mount.
default allowed_host_paths := []

allowed_host_paths := p if {
	p := data.gatehouse.config.allowed_host_paths
	is_array(p)
}

deny contains violation if {
	some c in containers
	object.get(c.container, ["securityContext", "privileged"], false) == true
	violation := {
		"msg": sprintf("%s: %s runs privileged (securityContext.privileged: true); remove it and add only the capabilities the container needs under securityContext.capabilities.add.", [
			k8s.title(c.workload),
			k8s.describe(c),
		]),
		"severity": "high",
		"object": c.ref,
		"details": {"container": c.name, "check": "privileged"},
	}
}

deny contains violation if {
	some w in workloads
	volumes := object.get(w.pod_spec, "volumes", [])
	is_array(volumes)
	some volume in volumes
	volume.hostPath
	path := object.get(volume, ["hostPath", "path"], "")
	not _allowed(path)
	violation := {
		"msg": sprintf("%s: volume '%s' mounts the node path '%s' (hostPath); use a persistentVolumeClaim, configMap, secret or emptyDir volume instead.", [
			k8s.title(w),
			object.get(volume, "name", ""),
			path,
		]),
		"severity": "high",
		"object": w.ref,
		"details": {"volume": object.get(volume, "name", ""), "path": path, "check": "hostPath"},
	}
}

_allowed(path) if {
	is_string(path)
	some allowed in allowed_host_paths
	is_string(allowed)
	allowed != ""
	_under(path, allowed)
}

_under(path, allowed) if trim_suffix(path, "/") == trim_suffix(allowed, "/")

_under(path, allowed) if startswith(path, concat("", [trim_suffix(allowed, "/"), "/"]))
