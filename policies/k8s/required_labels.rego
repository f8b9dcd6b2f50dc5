# METADATA
# title: Objects carry the required labels
# description: |
#   Every object in the action's manifests must carry each label listed in
#   data.gatehouse.config.required_labels with a non-empty value. The default,
#   app.kubernetes.io/name and app.kubernetes.io/instance, is the pair of
#   Kubernetes recommended labels that identify an application and its
#   installation; charts scaffolded by helm create set both.
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: low
package gatehouse.k8s.required_labels

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.manifests

default required := ["app.kubernetes.io/name", "app.kubernetes.io/instance"]

required := r if {
	configured := data.gatehouse.config.required_labels
	is_array(configured)
	r := [l | some l in configured; is_string(l)]
}

deny contains violation if {
	some obj in manifests
	is_string(obj.kind)
	labels := object.get(obj, ["metadata", "labels"], {})

	# Comprehensions, not helper functions: this runs for every object, and a
	# function call costs far more than the lookups it would wrap.
	present := {l | some l in required; v := labels[l]; is_string(v); v != ""}
	missing := [l | some l in required; not l in present]
	count(missing) > 0
	violation := {
		"msg": _msg(obj, missing),
		"severity": "low",
		"object": k8s.ref(obj),
		"details": {"missing": missing},
	}
}

_msg(obj, missing) := sprintf("%s is missing the required label %s; add it under metadata.labels.", [
	k8s.object_title(obj),
	missing[0],
]) if {
	count(missing) == 1
} else := sprintf("%s is missing the required labels %s; add them under metadata.labels.", [
	k8s.object_title(obj),
	concat(", ", missing),
])
