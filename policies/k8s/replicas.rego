# METADATA
# title: Deployments and StatefulSets run enough replicas
# description: |
#   Deployments and StatefulSets must run at least
#   data.gatehouse.config.min_replicas replicas (default 2), so that a pod can
#   fail, be evicted or be rescheduled without an outage. A missing spec.replicas
#   means 1. When a HorizontalPodAutoscaler in the same manifests scales the
#   object, its spec.minReplicas (default 1) is checked instead.
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: medium
package gatehouse.k8s.replicas

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.manifests

default min_replicas := 2

min_replicas := n if {
	n := data.gatehouse.config.min_replicas
	is_number(n)
}

_kinds := {"Deployment", "StatefulSet"}

_autoscalers := [h |
	some h in manifests
	h.kind == "HorizontalPodAutoscaler"
]

# The autoscalers that scale obj.
_autoscalers_of(obj) := [h |
	some h in _autoscalers
	k8s.namespace(h) == k8s.namespace(obj)
	object.get(h, ["spec", "scaleTargetRef", "kind"], "") == obj.kind
	object.get(h, ["spec", "scaleTargetRef", "name"], "") == k8s.name(obj)
]

# Too few replicas: a number below the minimum, or unset (which means 1).
# Non-numbers sort above numbers in Rego, so the next rule catches them.
deny contains violation if {
	some obj in manifests
	obj.kind in _kinds
	not object.get(obj, ["spec", "replicas"], 1) >= min_replicas
	replicas := object.get(obj, ["spec", "replicas"], null)
	not _effective(replicas) >= min_replicas
	_check(obj, replicas)
	violation := _violation(obj, replicas)
}

deny contains violation if {
	some obj in manifests
	obj.kind in _kinds
	replicas := object.get(obj, ["spec", "replicas"], null)
	replicas != null
	not is_number(replicas)
	_check(obj, replicas)
	violation := _violation(obj, replicas)
}

# Autoscaled objects are judged by their autoscaler instead.
_check(obj, replicas) if count(_autoscalers_of(obj)) == 0

_violation(obj, replicas) := {
	"msg": _msg(obj, replicas),
	"severity": "medium",
	"object": k8s.ref(obj),
	"details": {"replicas": _effective(replicas), "min_replicas": min_replicas},
}

deny contains violation if {
	count(_autoscalers) > 0
	some obj in manifests
	obj.kind in _kinds
	some hpa in _autoscalers_of(obj)
	floor := object.get(hpa, ["spec", "minReplicas"], 1)
	not floor >= min_replicas
	violation := {
		"msg": sprintf("%s is scaled by HorizontalPodAutoscaler %s/%s down to %v replica(s); at least %v are required. Set spec.minReplicas of the autoscaler to %v or more.", [
			k8s.object_title(obj),
			k8s.namespace(hpa),
			k8s.name(hpa),
			floor,
			min_replicas,
			min_replicas,
		]),
		"severity": "medium",
		"object": k8s.ref(obj),
		"details": {"replicas": floor, "min_replicas": min_replicas, "autoscaler": k8s.ref(hpa)},
	}
}

_effective(replicas) := 1 if replicas == null

else := replicas

_msg(obj, replicas) := sprintf("%s does not set spec.replicas, so it runs 1 replica; at least %v are required. Set spec.replicas to %v or more.", [
	k8s.object_title(obj),
	min_replicas,
	min_replicas,
]) if {
	replicas == null
}

_msg(obj, replicas) := sprintf("%s runs %v replica(s); at least %v are required. Set spec.replicas to %v or more.", [
	k8s.object_title(obj),
	replicas,
	min_replicas,
	min_replicas,
]) if {
	is_number(replicas)
}

_msg(obj, replicas) := sprintf("%s sets spec.replicas to '%v', which is not a number; set it to %v or more.", [
	k8s.object_title(obj),
	replicas,
	min_replicas,
]) if {
	replicas != null
	not is_number(replicas)
}
