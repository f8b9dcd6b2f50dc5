# METADATA
# title: Kubernetes manifest helpers
# description: |
#   Shared, precomputed views over the manifests of an action: every pod-bearing
#   object with its pod spec, and every container with the object it belongs to.
#   Policies iterate these instead of walking input.subject.manifests themselves,
#   so the work is done once per decision however many policies look at it.
package gatehouse.lib.k8s

# The manifests the action would apply, or [] when there are none.
manifests := m if {
	m := object.get(input, ["subject", "manifests"], [])
	is_array(m)
} else := []

# The manifests currently deployed in the action's scope, or [] when unknown.
deployed_manifests := m if {
	m := object.get(input, ["facts", "deployed", "manifests"], [])
	is_array(m)
} else := []

_template := ["spec", "template", "spec"]

# Where each pod-bearing kind keeps its pod spec.
pod_spec_paths := {
	"Pod": ["spec"],
	"Deployment": _template,
	"StatefulSet": _template,
	"DaemonSet": _template,
	"ReplicaSet": _template,
	"ReplicationController": _template,
	"Job": _template,
	"CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
}

# Kinds that are not namespaced: their refs are "Kind/name".
cluster_scoped_kinds := {
	"APIService",
	"CertificateSigningRequest",
	"ClusterIssuer",
	"ClusterRole",
	"ClusterRoleBinding",
	"CSIDriver",
	"CSINode",
	"CustomResourceDefinition",
	"IngressClass",
	"MutatingWebhookConfiguration",
	"Namespace",
	"Node",
	"PersistentVolume",
	"PriorityClass",
	"RuntimeClass",
	"StorageClass",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
	"ValidatingWebhookConfiguration",
	"VolumeAttachment",
}

# The namespace of an object; "default" when metadata.namespace is absent.
namespace(obj) := object.get(obj, ["metadata", "namespace"], "default")

# The name of an object; "" when metadata.name is absent.
name(obj) := object.get(obj, ["metadata", "name"], "")

# "Kind/namespace/name" for namespaced objects, "Kind/name" for cluster-scoped ones.
ref(obj) := concat("/", [obj.kind, name(obj)]) if {
	obj.kind in cluster_scoped_kinds
} else := concat("/", [object.get(obj, "kind", ""), namespace(obj), name(obj)])

# The pod spec of a pod-bearing object ({} when the object has none).
pod_spec(obj) := object.get(obj, pod_spec_paths[obj.kind], {})

# One entry per pod-bearing object in `objs`:
#   {"ref": "Deployment/ns/name", "kind", "namespace", "name", "object", "pod_spec"}
workloads_in(objs) := [w |
	some obj in objs
	path := pod_spec_paths[obj.kind]
	ns := object.get(obj, ["metadata", "namespace"], "default")
	n := object.get(obj, ["metadata", "name"], "")
	w := {
		"ref": concat("/", [obj.kind, ns, n]),
		"kind": obj.kind,
		"namespace": ns,
		"name": n,
		"object": obj,
		"pod_spec": object.get(obj, path, {}),
	}
]

# The pod-bearing objects of the action's manifests.
workloads := workloads_in(manifests)

# The pod-bearing objects currently deployed in the action's scope.
deployed_workloads := workloads_in(deployed_manifests)

# The container lists of a pod spec, and the words messages use for their members.
container_fields := ["initContainers", "containers", "ephemeralContainers"]

container_nouns := {
	"initContainers": "init container",
	"containers": "container",
	"ephemeralContainers": "ephemeral container",
}

# Every container of every workload (init, regular and ephemeral), workload by
# workload in manifest order:
#   {"ref": "Deployment/ns/name", "field": "containers" | "initContainers" | "ephemeralContainers",
#    "name": "app", "container": {...}, "workload": <the workloads entry>}
containers := containers_of(workloads)

# The containers of the workloads currently deployed in the action's scope.
deployed_containers := containers_of(deployed_workloads)

containers_of(ws) := [c |
	some w in ws
	is_object(w.pod_spec)
	some field, list in object.filter(w.pod_spec, container_fields)
	is_array(list)
	some container in list
	is_object(container)
	c := {
		"ref": w.ref,
		"field": field,
		"name": object.get(container, "name", ""),
		"container": container,
		"workload": w,
	}
]

# How messages name a container: "container 'app'", "init container 'migrate'", ...
describe(c) := sprintf("%s '%s'", [container_nouns[c.field], c.name])

# The label value of an object, or "" when it has none.
label(obj, key) := object.get(obj, ["metadata", "labels", key], "")

# The annotation value of an object, or "" when it has none.
annotation(obj, key) := object.get(obj, ["metadata", "annotations", key], "")

# How messages name a workload entry: "Deployment payments/api".
title(w) := sprintf("%s %s/%s", [w.kind, w.namespace, w.name])

# How messages name any object: "Deployment payments/api", or "Namespace payments"
# for cluster-scoped kinds.
object_title(obj) := sprintf("%s %s", [obj.kind, name(obj)]) if {
	obj.kind in cluster_scoped_kinds
} else := sprintf("%s %s/%s", [object.get(obj, "kind", ""), namespace(obj), name(obj)])
