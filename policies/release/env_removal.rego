# METADATA
# title: Releases must not drop environment variables
# description: |
#   A release must not remove an environment variable that the deployed version
#   of a container sets. Objects are matched by kind, namespace and name between
#   input.facts.deployed.manifests and input.subject.manifests, containers (init
#   and regular) by name; every env name of the deployed container missing from
#   the new one is reported. Removals that are intended are declared on the new
#   object with the annotation gatehouse.dev/allow-env-removal: "NAME,OTHER"
#   ("*" allows any). Objects or containers that the release removes entirely are
#   not checked here; an object listed twice counts once (a variable is kept when
#   any copy sets it).
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: high
package gatehouse.release.env_removal

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.containers
import data.gatehouse.lib.k8s.deployed_manifests
import data.gatehouse.lib.k8s.pod_spec_paths
import data.gatehouse.lib.k8s.workloads

# The annotation that lists environment variables a release may remove.
allow_annotation := "gatehouse.dev/allow-env-removal"

# Containers whose env is compared (ephemeral containers carry no lasting env).
_compared := {"initContainers", "containers"}

# [ref, container] of every init and regular container in the release.
_new_containers := {[c.ref, c.name] |
	some c in containers
	c.field in _compared
}

# [ref, container, env] of every init and regular container in the release: a
# deployed container found here unchanged needs no closer look, which is the
# common case (most releases change images, not environments).
_new_envs := {[c.ref, c.name, object.get(c.container, "env", [])] |
	some c in containers
	c.field in _compared
}

# [ref, container, env] of every deployed container that sets variables, read
# straight from the deployed manifests.
_old_envs := [[ref, object.get(container, "name", ""), env] |
	some obj in deployed_manifests
	spec := object.get(obj, pod_spec_paths[obj.kind], {})
	is_object(spec)
	ref := concat("/", [obj.kind, object.get(obj, ["metadata", "namespace"], "default"), object.get(obj, ["metadata", "name"], "")])
	some field in _compared
	list := object.get(spec, field, [])
	is_array(list)
	some container in list
	is_object(container)
	env := object.get(container, "env", [])
	is_array(env)
	count(env) > 0
]

# The env names the release sets on a container (merged over repeated objects).
_new_names(ref, name) := {n |
	some c in containers
	c.ref == ref
	c.name == name
	c.field in _compared
	env := object.get(c.container, "env", [])
	is_array(env)
	some e in env
	n := e.name
}

deny contains violation if {
	some old in _old_envs
	not old in _new_envs
	ref := old[0]
	container := old[1]
	[ref, container] in _new_containers
	kept := _new_names(ref, container)
	some e in old[2]
	var := e.name
	is_string(var)
	not var in kept
	new := [w | some w in workloads; w.ref == ref]
	not _allowed_by_any(new, var)
	w := new[0]
	violation := {
		"msg": sprintf("%s: container '%s' drops the environment variable %s that the deployed version sets%s; keep it, or annotate the %s with %s: \"%s\" if the removal is intended.", [
			k8s.title(w),
			container,
			var,
			_deployed_release,
			w.kind,
			allow_annotation,
			var,
		]),
		"severity": "high",
		"object": ref,
		"details": {"container": container, "variable": var, "deployed_release": object.get(input, ["facts", "deployed", "release"], null)},
	}
}

_deployed_release := sprintf(" (release %s)", [r]) if {
	r := input.facts.deployed.release
	is_string(r)
	r != ""
} else := ""

_allowed_by_any(workloads, var) if {
	some w in workloads
	value := k8s.annotation(w.object, allow_annotation)
	is_string(value)
	some entry in split(value, ",")
	trim_space(entry) in {var, "*"}
}
