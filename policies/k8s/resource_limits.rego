# METADATA
# title: Containers need resource limits
# description: |
#   Every init and regular container of every pod-bearing object (Pod, Deployment,
#   StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob) must
#   set resources.limits.cpu and resources.limits.memory. Without limits one
#   container can starve its neighbours on the node. Ephemeral (debug) containers
#   are not checked: Kubernetes does not allow resources on them.
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: high
package gatehouse.k8s.resource_limits

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.containers

_resources := ["cpu", "memory"]

_unset := {"", null}

deny contains violation if {
	some c in containers
	c.field != "ephemeralContainers"

	# Cheap test first: both limits set and non-empty is the common case.
	limits := {
		object.get(c.container, ["resources", "limits", "cpu"], ""),
		object.get(c.container, ["resources", "limits", "memory"], ""),
	}
	count(limits & _unset) > 0

	missing := [r | some r in _resources; object.get(c.container, ["resources", "limits", r], "") in _unset]
	violation := {
		"msg": _msg(c, missing),
		"severity": "high",
		"object": c.ref,
		"details": {"container": c.name, "missing": [concat(".", ["resources.limits", r]) | some r in missing]},
	}
}

_msg(c, missing) := sprintf("%s: %s has no resource limits; set resources.limits.cpu and resources.limits.memory.", [
	k8s.title(c.workload),
	k8s.describe(c),
]) if {
	count(missing) == 2
} else := sprintf("%s: %s has no %s limit; set resources.limits.%s.", [
	k8s.title(c.workload),
	k8s.describe(c),
	missing[0],
	missing[0],
])
