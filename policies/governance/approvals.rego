# METADATA
# title: Approval quorum, eligible approvers and distinct teams
# description: |
#   For release.deploy, promotion, rollback and command actions, every approval
#   policy in input.facts.approval_policies whose scope and kinds match yields a
#   requirement with its progress: the approvals received from eligible
#   approvers (one person counts once; the requester counts only when the
#   policy sets requester_can_approve), against a quorum and a number of
#   distinct teams. A live break-glass session of the actor that covers the
#   action waives the requirements. For release.approve actions the approval
#   itself is checked: no self-approval unless an applicable policy allows it,
#   no second approval by the same person, no approver who is eligible under
#   none of the applicable policies. Quorum and team coverage are computed by
#   the quorum and distinct-teams WebAssembly plugins (plugins/quorum,
#   plugins/distinct-teams); this policy selects the approval policies, composes
#   their messages and checks release.approve actions.
# custom:
#   kinds: [release.approve, release.deploy, promotion, rollback, command]
#   severity: high
package gatehouse.governance.approvals

import data.gatehouse.lib.scope
import data.gatehouse.lib.scope.active_breakglass
import data.gatehouse.lib.scope.breakglass_active

# Action kinds gated by approval policies.
gated_kinds := {"release.deploy", "promotion", "rollback", "command"}

# Policy kinds that make a policy govern approvals of a release.
_release_kinds := {"release.approve", "release.deploy", "promotion", "rollback"}

_policies := [p |
	some p in _list(object.get(input, ["facts", "approval_policies"], []))
	is_object(p)
]

# Approvals with a usable actor.
approvals := [a |
	some a in _list(object.get(input, ["facts", "approvals"], []))
	is_object(a)
	is_object(a.actor)
	is_string(a.actor.id)
]

_list(x) := x if is_array(x)

else := []

# The person who asked for the action: the release's requester, else the actor
# of a command or rollback.
requester := r if {
	r := input.subject.release.requester.id
	is_string(r)
	r != ""
} else := input.actor.id if {
	input.kind in {"command", "rollback"}
}

_release_name := sprintf("release %s", [input.subject.release.id]) if {
	is_string(input.subject.release.id)
} else := "this release"

# Approval policies that gate this action.
applicable := [p |
	input.kind in gated_kinds
	some p in _policies
	_kinds_match(p, input.kind)
	scope.matches_action(object.get(p, "scope", {}))
]

_kinds_match(p, kind) if {
	count(scope.as_list(object.get(p, "kinds", null))) == 0
	kind in gated_kinds
}

_kinds_match(p, kind) if kind in scope.as_list(object.get(p, "kinds", null))

# Approval policies that govern the approval of this release (release.approve).
approve_policies := [p |
	input.kind == "release.approve"
	some p in _policies
	_governs_release(p)
	scope.matches_action(object.get(p, "scope", {}))
]

_governs_release(p) if count(scope.as_list(object.get(p, "kinds", null))) == 0

_governs_release(p) if {
	some k in scope.as_list(object.get(p, "kinds", null))
	k in _release_kinds
}

_name(p) := n if {
	n := p.name
	is_string(n)
} else := "(unnamed)"

_int(x, d) := x if {
	is_number(x)
	x >= 0
} else := d

# --- eligibility -------------------------------------------------------------

_eligible_lists(p) := {
	"users": scope.as_list(object.get(e, "users", null)),
	"teams": scope.as_list(object.get(e, "teams", null)),
	"roles": scope.as_list(object.get(e, "roles", null)),
} if {
	e := scope.as_object(object.get(p, "eligible", {}))
}

_teams(actor) := {t |
	some t in _list(object.get(actor, "teams", []))
	is_string(t)
}

# True when actor may approve under policy p: listed by id, in a listed team or
# holding a listed role; everyone when all three lists are empty.
eligible(p, actor) if _eligible_in(_eligible_lists(p), actor)

_eligible_in(e, _) if count(e.users) + count(e.teams) + count(e.roles) == 0

_eligible_in(e, actor) if actor.id in e.users

_eligible_in(e, actor) if {
	some t in _teams(actor)
	t in e.teams
}

_eligible_in(e, actor) if {
	role := actor.role
	is_string(role)
	role in e.roles
}

_requester_can_approve(p) if p.requester_can_approve == true

_describe_eligible(e) := "anyone" if {
	count(e.users) + count(e.teams) + count(e.roles) == 0
} else := concat("; ", [part |
	some pair in [["users", e.users], ["teams", e.teams], ["roles", e.roles]]
	count(pair[1]) > 0
	part := sprintf("%s %s", [pair[0], concat(", ", [sprintf("%v", [x]) | some x in pair[1]])])
])

# --- progress of one policy --------------------------------------------------

# The state of approval policy p for this action: the quorum plugin counts the
# approvals (eligible approvers, the requester only when allowed, one person
# once); the distinct-teams plugin matches approvers to teams.
status(p) := st if {
	e := _eligible_lists(p)
	quorum := _int(object.get(p, "quorum", 1), 1)
	k := _int(object.get(p, "distinct_teams", 0), 0)
	required := max([quorum, k])
	q := _first(gatehouse.plugin("quorum", plugin_input, object.union(p, {"quorum": required})).requirements)
	t := _teams_status(p, k)
	st := {
		"policy": p,
		"name": _name(p),
		"eligible": e,
		"ignored": {r | some r in q.details.ignored},
		"ids": {id | some id in q.details.approvers},
		"teams": t.teams,
		"saturated": t.saturated,
		"quorum": quorum,
		"k": k,
		"required": required,
		"received": q.progress.received,
		"coverage": t.coverage,
		"satisfied": _all([q.satisfied, t.satisfied]),
	}
}

_first(list) := list[0]

# What the quorum and distinct-teams plugins read of the action (only that: an
# action can carry hundreds of kilobytes of manifests).
plugin_input := {
	"kind": input.kind,
	"actor": object.get(input, "actor", {}),
	"subject": {"release": {"requester": object.get(input, ["subject", "release", "requester"], null)}},
	"facts": {"approvals": approvals},
}

_teams_status(_, k) := {"coverage": 0, "teams": set(), "saturated": set(), "satisfied": true} if k <= 0

_teams_status(p, k) := {
	"coverage": r.progress.teams,
	"teams": {x | some x in r.details.teams},
	"saturated": {x | some x in r.details.needs_team_other_than},
	"satisfied": r.satisfied,
} if {
	k > 0
	r := _first(gatehouse.plugin("distinct-teams", plugin_input, p).requirements)
}

_all(conditions) := true if {
	every c in conditions {
		c == true
	}
} else := false

# --- requirements ------------------------------------------------------------

requirement contains r if {
	not breakglass_active
	some p in applicable
	st := status(p)
	r := {
		"id": concat(":", ["approval", st.name]),
		"type": "approval",
		"msg": _msg(st),
		"satisfied": st.satisfied,
		"progress": {
			"received": st.received,
			"required": st.required,
			"teams": st.coverage,
			"teams_required": st.k,
		},
		"details": {
			"policy": st.name,
			"approvers": sort(st.ids),
			"teams": sort(st.teams),
			"ignored": sort(st.ignored),
			"requester": _requester_or_null,
			"requester_can_approve": _requester_can_approve_value(p),
			"eligible": st.eligible,
		},
	}
}

requirement contains r if {
	breakglass_active
	session := active_breakglass[0]
	some p in applicable
	st := status(p)
	r := {
		"id": concat(":", ["approval", _name(p)]),
		"type": "approval",
		"msg": sprintf("Approval policy '%s' is waived: break-glass session %s of %s is active until %s.", [
			_name(p),
			object.get(session, "id", "(unnamed)"),
			input.actor.id,
			object.get(session, "expires_at", ""),
		]),
		"satisfied": true,
		"progress": {"received": st.received, "required": st.required},
		"details": {"policy": _name(p), "waived_by": object.get(session, "id", null)},
	}
}

_requester_or_null := r if {
	r := requester
} else := null

_requester_can_approve_value(p) := true if _requester_can_approve(p)

else := false

_msg(st) := sprintf("Approval policy '%s' is satisfied: %d of %v approvals received%s.", [
	st.name,
	st.received,
	st.required,
	_teams_suffix(st),
]) if {
	st.satisfied
} else := concat("", [_progress(st), " (approval policy '", st.name, "').", _hints(st)])

_teams_suffix(st) := "" if count(st.teams) == 0

else := sprintf(" (teams %s)", [concat(", ", sort(st.teams))])

# "1 of 2 approvals received; needs an approval from a team other than backend"
_progress(st) := s if {
	missing := max([st.required - st.received, 0])
	team_missing := max([st.k - st.coverage, 0])
	extra := max([missing, team_missing])
	head := _head(st, missing, team_missing)
	s := concat("", [head, "; needs ", _needs(st, extra, team_missing)])
}

_head(st, missing, team_missing) := sprintf("%d of %v approvals received, covering %d of %v required teams", [
	st.received,
	st.required,
	st.coverage,
	st.k,
]) if {
	missing == 0
	team_missing > 0
} else := sprintf("%d of %v approvals received", [st.received, st.required])

_needs(_, extra, team_missing) := _count_phrase(extra) if team_missing <= 0

_needs(st, extra, team_missing) := concat(" ", [_count_phrase(extra), _team_clause(st, team_missing)]) if {
	team_missing > 0
	extra == team_missing
}

_needs(st, extra, team_missing) := concat("", [
	_count_phrase(extra),
	", ",
	_at_least(team_missing),
	" ",
	_team_clause(st, team_missing),
]) if {
	team_missing > 0
	extra > team_missing
}

_count_phrase(n) := "an approval" if n <= 1

_count_phrase(n) := sprintf("%v more approvals", [n]) if n > 1

_at_least(n) := "at least one" if n <= 1

_at_least(n) := sprintf("at least %v of them", [n]) if n > 1

_team_clause(st, team_missing) := s if {
	others := sort(st.saturated)
	s := _team_clause_for(others, team_missing, st.coverage)
}

_team_clause_for(others, n, _) := sprintf("from a team other than %s", [concat(", ", others)]) if {
	n <= 1
	count(others) > 0
}

_team_clause_for(others, n, _) := sprintf("from %v different teams other than %s", [n, concat(", ", others)]) if {
	n > 1
	count(others) > 0
}

_team_clause_for(others, n, cov) := "from another team" if {
	n <= 1
	count(others) == 0
	cov > 0
}

_team_clause_for(others, n, cov) := "from a member of a team" if {
	n <= 1
	count(others) == 0
	cov <= 0
}

_team_clause_for(others, n, _) := sprintf("from %v different teams", [n]) if {
	n > 1
	count(others) == 0
}

_hints(st) := concat("", [h |
	some h in [_eligible_hint(st), _requester_hint(st), _ineligible_hint(st)]
	h != ""
])

_eligible_hint(st) := sprintf(" Eligible approvers: %s.", [_describe_eligible(st.eligible)]) if {
	st.received < st.required
	_describe_eligible(st.eligible) != "anyone"
} else := ""

_requester_hint(st) := " The requester's own approval does not count." if {
	some i in st.ignored
	i.reason == "requester"
} else := ""

_ineligible_hint(st) := sprintf(" Not counted (not eligible): %s.", [concat(", ", ids)]) if {
	ids := sort({i.actor | some i in st.ignored; i.reason == "not eligible"})
	count(ids) > 0
} else := ""

# --- release.approve ---------------------------------------------------------

_who(actor) := sprintf("%s (%s)", [actor.name, actor.id]) if {
	is_string(actor.name)
	actor.name != actor.id
} else := sprintf("%v", [object.get(actor, "id", "(unknown)")])

_self_approval_allowed if {
	some p in approve_policies
	_requester_can_approve(p)
}

deny contains v if {
	input.kind == "release.approve"
	input.actor.id == requester
	not _self_approval_allowed
	v := {
		"msg": sprintf("%s requested %s and cannot approve it: %s. Ask an eligible approver to review it.", [
			_who(input.actor),
			_release_name,
			_self_reason,
		]),
		"severity": "high",
		"details": {"requester": requester, "policies": [_name(p) | some p in approve_policies]},
	}
}

_self_reason := "no approval policy in this scope lets the requester approve" if {
	count(approve_policies) == 0
} else := sprintf("approval policy %s does not let the requester approve (requester_can_approve is false)", [concat(", ", [sprintf("'%s'", [_name(p)]) | some p in approve_policies])])

deny contains v if {
	input.kind == "release.approve"
	prior := [a | some a in approvals; a.actor.id == input.actor.id]
	count(prior) > 0
	v := {
		"msg": sprintf("%s already approved %s%s; one person's approval counts once.", [
			_who(input.actor),
			_release_name,
			_at(prior[0]),
		]),
		"severity": "medium",
		"details": {"approver": input.actor.id},
	}
}

_at(a) := sprintf(" at %s", [a.at]) if is_string(a.at)

else := ""

deny contains v if {
	input.kind == "release.approve"
	count(approve_policies) > 0
	not _eligible_anywhere
	v := {
		"msg": sprintf("%s is not an eligible approver for %s: %s.", [
			_who(input.actor),
			_release_name,
			concat("; ", [sprintf("approval policy '%s' accepts %s", [_name(p), _describe_eligible(_eligible_lists(p))]) | some p in approve_policies]),
		]),
		"severity": "high",
		"details": {"approver": input.actor.id, "policies": [_name(p) | some p in approve_policies]},
	}
}

_eligible_anywhere if {
	some p in approve_policies
	eligible(p, input.actor)
}
