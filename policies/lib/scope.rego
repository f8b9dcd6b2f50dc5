# METADATA
# title: Scope matching and break-glass sessions
# description: |
#   Matching of the scope of an approval policy, freeze window or break-glass
#   session against the scope of an action, and the break-glass sessions that
#   are live for the acting user. See docs/policies/README.md for the rules.
package gatehouse.lib.scope

import data.gatehouse.lib.clock
import data.gatehouse.lib.clock.now_ns

# A definition value as a list: lists as they are, a non-empty string as a
# one-element list, anything else (absent, null, "") as [] (= any value).
as_list(x) := x if is_array(x)

else := [x] if {
	is_string(x)
	x != ""
} else := []

# An object as it is, anything else as {}.
as_object(x) := x if is_object(x)

else := {}

# The cluster name of an action scope: scope.cluster.name, or scope.cluster when
# it is a plain string; null when absent.
cluster_name(act) := c if {
	c := act.cluster
	is_string(c)
} else := object.get(act, ["cluster", "name"], null)

_all_fields := ["org", "project", "environment", "tenant", "workload", "cluster"]

# A definition scope in the form matching uses, computed once per definition:
# "fields" maps each restricting field to its set of allowed values (fields that
# are absent, empty or "*" are left out) and "labels" holds the cluster labels.
normalize(def_scope) := {"fields": fs, "labels": labels} if {
	d := as_object(def_scope)
	fs := {f: {x | some x in allowed} |
		some f in _all_fields
		allowed := as_list(object.get(d, f, null))
		count(allowed) > 0
		not "*" in allowed
	}
	labels := as_object(object.get(d, "cluster_labels", {}))
}

# An action scope in the form matching uses: "cluster" is the cluster name and
# "cluster_labels" the cluster's labels. Flattening a flat scope changes nothing.
flatten(act) := object.union(act, {
	"cluster": object.get(act, ["cluster", "name"], null),
	"cluster_labels": as_object(object.get(act, ["cluster", "labels"], {})),
}) if {
	is_object(act.cluster)
} else := act

# True when a normalized definition covers a flattened action scope.
covers(n, flat) if {
	every f, allowed in n.fields {
		flat[f] in allowed
	}
	every k, want in n.labels {
		_label_matches(want, object.get(flat, ["cluster_labels", k], null))
	}
}

# True when a definition scope covers an action scope. Each field of the
# definition (org, project, environment, tenant, workload, cluster) holds a
# list of allowed values; a missing field, an empty list or "*" allows any
# value. cluster_labels, when present, must all equal the action's
# scope.cluster.labels ("*" only asks for the label to be present).
matches(def_scope, act) if covers(normalize(def_scope), flatten(as_object(act)))

_label_matches(want, got) if {
	want == "*"
	got != null
}

_label_matches(want, got) if {
	want != "*"
	want == got
}

# The action's own scope ({} when absent).
action_scope := as_object(object.get(input, "scope", {}))

_changes := c if {
	c := object.get(input, ["subject", "release", "changes"], [])
	is_array(c)
} else := []

_change_fields := ["environment", "tenant", "workload"]

# The scopes an action touches: one per release change (the action's scope with
# the change's environment, tenant and workload laid over it), or the action's
# own scope when the release lists no changes. A freeze or approval policy
# applies when it matches any of them.
action_scopes := s if {
	s := {object.union(action_scope, object.filter(change, _change_fields)) |
		some change in _changes
		is_object(change)
	}
	count(s) > 0
} else := {action_scope}

_base_flat := flatten(action_scope)

# The action scopes, flattened (see flatten).
flat_scopes := s if {
	s := {object.union(_base_flat, object.filter(change, _change_fields)) |
		some change in _changes
		is_object(change)
	}
	count(s) > 0
} else := {_base_flat}

# True when a definition scope matches at least one scope the action touches.
matches_action(def_scope) if {
	n := normalize(def_scope)
	some flat in flat_scopes
	covers(n, flat)
}

# Break-glass sessions of the acting user that are live at the decision time:
# opened (opened_at <= time, when given) and not expired (time < expires_at).
live_breakglass := [s |
	some s in _sessions
	is_object(s)
	s.actor == input.actor.id
	_live(s, now_ns)
]

_sessions := s if {
	s := object.get(input, ["facts", "breakglass"], [])
	is_array(s)
} else := []

_live(s, now) if {
	now < clock.ns(s.expires_at)
	not _not_yet_open(s, now)
}

_not_yet_open(s, now) if now < clock.ns(s.opened_at)

# The live sessions that cover every scope the action touches.
active_breakglass := [s |
	some s in live_breakglass
	n := normalize(object.get(s, "scope", {}))
	every flat in flat_scopes {
		covers(n, flat)
	}
]

# True when an active break-glass session covers the actor and every scope the
# action touches; it exempts the action from freezes and approval requirements.
breakglass_active if count(active_breakglass) > 0
