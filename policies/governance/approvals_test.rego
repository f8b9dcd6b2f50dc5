package gatehouse.governance.approvals_test

import data.gatehouse.governance.approvals

_policy := {
	"name": "prod-two-teams",
	"scope": {"environment": ["production"]},
	"kinds": ["release.deploy", "promotion", "rollback", "command"],
	"quorum": 2,
	"distinct_teams": 2,
	"requester_can_approve": false,
	"eligible": {"users": [], "teams": ["sre", "backend", "platform"], "roles": ["admin", "owner"]},
}

# obj with key set to value (object.union would merge nested objects).
_with(obj, key, value) := object.union(object.remove(obj, [key]), {key: value})

_person(id, role, teams) := {"id": id, "kind": "user", "role": role, "teams": teams}

_alice := _person("u-alice", "member", ["backend"])

_bob := _person("u-bob", "member", ["sre"])

_carol := _person("u-carol", "member", ["backend"])

_dave := _person("u-dave", "member", ["platform"])

_approval(actor) := {"actor": actor, "at": "2026-11-24T09:00:00Z"}

_deploy(approvers, policies) := {
	"version": 1,
	"kind": "release.deploy",
	"time": "2026-11-24T10:00:00Z",
	"actor": _alice,
	"scope": {"org": "acme", "project": "payments", "environment": "production", "workload": "payment-api"},
	"subject": {"release": {"id": "rel-2847", "requester": {"id": "u-alice", "teams": ["backend"]}}},
	"facts": {"approvals": [_approval(a) | some a in approvers], "approval_policies": policies},
}

_requirement(inp) := r if {
	rs := approvals.requirement with input as inp
	count(rs) == 1
	some r in rs
}

test_no_approvals_pending if {
	r := _requirement(_deploy([], [_policy]))
	r.id == "approval:prod-two-teams"
	r.type == "approval"
	r.satisfied == false
	r.progress == {"received": 0, "required": 2, "teams": 0, "teams_required": 2}
	r.msg == "0 of 2 approvals received; needs 2 more approvals from 2 different teams (approval policy 'prod-two-teams'). Eligible approvers: teams sre, backend, platform; roles admin, owner."
}

test_one_approval_needs_another_team if {
	r := _requirement(_deploy([_carol], [_policy]))
	r.satisfied == false
	r.progress.received == 1
	startswith(r.msg, "1 of 2 approvals received; needs an approval from a team other than backend (approval policy 'prod-two-teams').")
}

test_two_teams_satisfy if {
	r := _requirement(_deploy([_carol, _bob], [_policy]))
	r.satisfied == true
	r.progress == {"received": 2, "required": 2, "teams": 2, "teams_required": 2}
	r.msg == "Approval policy 'prod-two-teams' is satisfied: 2 of 2 approvals received (teams backend, sre)."
	r.details.approvers == ["u-bob", "u-carol"]
}

test_two_approvals_from_one_team_are_not_enough if {
	erin := _person("u-erin", "member", ["backend"])
	r := _requirement(_deploy([_carol, erin], [_policy]))
	r.satisfied == false
	r.progress.received == 2
	r.progress.teams == 1
	startswith(r.msg, "2 of 2 approvals received, covering 1 of 2 required teams; needs an approval from a team other than backend")
}

test_requester_approval_does_not_count if {
	r := _requirement(_deploy([_alice, _bob], [_policy]))
	r.satisfied == false
	r.progress.received == 1
	r.details.ignored == [{"actor": "u-alice", "reason": "requester"}]
	contains(r.msg, "The requester's own approval does not count.")
}

test_requester_may_approve_when_policy_allows if {
	p := object.union(_policy, {"requester_can_approve": true})
	r := _requirement(_deploy([_alice, _bob], [p]))
	r.satisfied == true
}

test_one_person_counts_once if {
	r := _requirement(_deploy([_bob, _bob], [_policy]))
	r.progress.received == 1
}

test_ineligible_approver_does_not_count if {
	frank := _person("u-frank", "member", ["finance"])
	r := _requirement(_deploy([_bob, frank], [_policy]))
	r.satisfied == false
	r.progress.received == 1
	r.details.ignored == [{"actor": "u-frank", "reason": "not eligible"}]
	contains(r.msg, "Not counted (not eligible): u-frank.")
}

test_eligible_by_role if {
	gina := _person("u-gina", "admin", ["finance"])
	r := _requirement(_deploy([_bob, gina], [_policy]))
	r.satisfied == true
}

test_eligible_by_user_id if {
	frank := _person("u-frank", "member", ["finance"])
	p := object.union(_policy, {"eligible": {"users": ["u-frank"], "teams": ["sre"], "roles": []}})
	r := _requirement(_deploy([_bob, frank], [p]))
	r.satisfied == true
}

test_everyone_eligible_when_lists_are_empty if {
	frank := _person("u-frank", "viewer", ["finance"])
	p := _with(_policy, "eligible", {})
	r := _requirement(_deploy([_bob, frank], [p]))
	r.satisfied == true
	not contains(r.msg, "Eligible approvers")
}

test_person_in_two_teams_counts_for_one if {
	hank := _person("u-hank", "member", ["sre", "backend"])
	r := _requirement(_deploy([hank], [_policy]))
	r.satisfied == false
	r.progress.teams == 1
	startswith(r.msg, "1 of 2 approvals received; needs an approval from another team")
}

test_multi_team_people_are_assigned_to_maximise_coverage if {
	hank := _person("u-hank", "member", ["sre", "backend"])
	r := _requirement(_deploy([hank, _carol], [_policy]))
	r.satisfied == true
	r.progress.teams == 2
}

test_matching_is_exact_for_three_teams if {
	# Two people share the only two teams between them: three teams cannot be covered.
	p := object.union(_policy, {"quorum": 3, "distinct_teams": 3})
	x := _person("u-x", "member", ["sre", "backend"])
	y := _person("u-y", "member", ["sre", "backend"])
	z := _person("u-z", "member", ["sre", "backend"])
	r := _requirement(_deploy([x, y, z], [p]))
	r.satisfied == false
	r.progress.teams == 2
	startswith(r.msg, "3 of 3 approvals received, covering 2 of 3 required teams; needs an approval from a team other than backend, sre")
}

test_three_teams_with_overlaps if {
	p := object.union(_policy, {"quorum": 3, "distinct_teams": 3})
	x := _person("u-x", "member", ["sre", "backend"])
	y := _person("u-y", "member", ["sre"])
	z := _person("u-z", "member", ["backend", "platform"])
	r := _requirement(_deploy([x, y, z], [p]))
	r.satisfied == true
}

test_quorum_larger_than_distinct_teams if {
	p := object.union(_policy, {"quorum": 3})
	r := _requirement(_deploy([_carol], [p]))
	startswith(r.msg, "1 of 3 approvals received; needs 2 more approvals, at least one from a team other than backend")
}

test_distinct_teams_larger_than_quorum if {
	p := object.union(_policy, {"quorum": 1, "distinct_teams": 2})
	r := _requirement(_deploy([_carol], [p]))
	r.progress.required == 2
	r.satisfied == false
}

test_quorum_without_team_constraint if {
	p := object.union(_policy, {"distinct_teams": 0, "quorum": 2})
	r := _requirement(_deploy([_carol], [p]))
	startswith(r.msg, "1 of 2 approvals received; needs an approval (approval policy 'prod-two-teams').")
	r2 := _requirement(_deploy([_carol, _person("u-erin", "member", ["backend"])], [p]))
	r2.satisfied == true
}

test_default_quorum_is_one if {
	p := {"name": "any", "scope": {}}
	r := _requirement(_deploy([], [p]))
	r.progress.required == 1
	r2 := _requirement(_deploy([_bob], [p]))
	r2.satisfied == true
}

test_many_distinct_teams_are_counted_exactly if {
	p := _with(object.union(_policy, {"distinct_teams": 7, "quorum": 1}), "eligible", {})
	people := [_person(sprintf("u-%d", [i]), "member", [sprintf("team-%d", [i]), sprintf("team-%d", [(i + 1) % 7])]) | some i in numbers.range(0, 6)]
	r := _requirement(_deploy(people, [p]))
	r.satisfied == true
	r.progress == {"received": 7, "required": 7, "teams": 7, "teams_required": 7}
	r6 := _requirement(_deploy(array.slice(people, 0, 6), [p]))
	r6.satisfied == false
	startswith(r6.msg, "6 of 7 approvals received; needs an approval from another team")
}

test_policy_out_of_scope_does_not_apply if {
	inp := _with(_deploy([], [_policy]), "scope", {"environment": "staging"})
	count(approvals.requirement) == 0 with input as inp
}

test_policy_for_other_kinds_does_not_apply if {
	p := object.union(_policy, {"kinds": ["promotion"]})
	count(approvals.requirement) == 0 with input as _deploy([], [p])
}

test_policy_without_kinds_applies_to_gated_kinds if {
	p := object.remove(_policy, ["kinds"])
	count(approvals.requirement) == 1 with input as _deploy([], [p])
}

test_workload_scoped_policy_matches_release_changes if {
	p := _with(_policy, "scope", {"environment": ["production"], "workload": ["checkout"]})
	base := _deploy([], [p])
	inp := object.union(_with(base, "scope", {"environment": "production"}), {
		"subject": {"release": {"id": "rel-1", "requester": {"id": "u-alice"}, "changes": [
			{"workload": "cart", "environment": "production", "path": "image.tag"},
			{"workload": "checkout", "environment": "production", "path": "image.tag"},
		]}},
	})
	count(approvals.requirement) == 1 with input as inp
	count(approvals.requirement) == 0 with input as base
}

test_cluster_labels_scope if {
	p := _with(_policy, "scope", {"cluster_labels": {"tier": "production"}})
	inp := object.union(_deploy([], [p]), {"scope": {"environment": "production", "cluster": {"name": "prod-eu-1", "labels": {"tier": "production"}}}})
	count(approvals.requirement) == 1 with input as inp
	count(approvals.requirement) == 0 with input as _deploy([], [p])
}

test_render_is_not_gated if {
	count(approvals.requirement) == 0 with input as object.union(_deploy([], [_policy]), {"kind": "render"})
}

test_absent_facts_no_requirements if {
	count(approvals.requirement) == 0 with input as {"version": 1, "kind": "release.deploy", "actor": _alice, "scope": {"environment": "production"}}
	count(approvals.deny) == 0 with input as {"version": 1, "kind": "release.approve", "actor": _bob}
}

test_command_requester_is_the_actor if {
	inp := {
		"version": 1,
		"kind": "command",
		"time": "2026-11-24T10:00:00Z",
		"actor": _bob,
		"scope": {"environment": "production"},
		"subject": {"command": {"type": "restart", "target": {"kind": "Deployment", "namespace": "payments", "name": "payment-api"}}},
		"facts": {"approvals": [_approval(_bob), _approval(_carol)], "approval_policies": [_policy]},
	}
	r := _requirement(inp)
	r.progress.received == 1
	r.details.requester == "u-bob"
}

_session(actor, scope, expires) := {
	"id": "bg-1",
	"actor": actor,
	"scope": scope,
	"opened_at": "2026-11-24T09:30:00Z",
	"expires_at": expires,
	"justification": "P1 incident: payment-api returns 500s",
	"severity": "P1",
}

test_breakglass_waives_requirement if {
	inp := object.union(_deploy([], [_policy]), {"facts": {"breakglass": [_session("u-alice", {"environment": "production"}, "2026-11-24T11:00:00Z")]}})
	r := _requirement(inp)
	r.satisfied == true
	r.details.waived_by == "bg-1"
	r.msg == "Approval policy 'prod-two-teams' is waived: break-glass session bg-1 of u-alice is active until 2026-11-24T11:00:00Z."
}

test_expired_breakglass_does_not_waive if {
	inp := object.union(_deploy([], [_policy]), {"facts": {"breakglass": [_session("u-alice", {"environment": "production"}, "2026-11-24T10:00:00Z")]}})
	r := _requirement(inp)
	r.satisfied == false
}

test_breakglass_of_another_actor_does_not_waive if {
	inp := object.union(_deploy([], [_policy]), {"facts": {"breakglass": [_session("u-bob", {"environment": "production"}, "2026-11-24T11:00:00Z")]}})
	r := _requirement(inp)
	r.satisfied == false
}

test_breakglass_for_another_workload_does_not_waive if {
	inp := object.union(_deploy([], [_policy]), {"facts": {"breakglass": [_session("u-alice", {"environment": "production", "workload": "checkout"}, "2026-11-24T11:00:00Z")]}})
	r := _requirement(inp)
	r.satisfied == false
}

# --- release.approve -----------------------------------------------------------

_approve(actor, prior, policies) := {
	"version": 1,
	"kind": "release.approve",
	"time": "2026-11-24T10:00:00Z",
	"actor": actor,
	"scope": {"environment": "production"},
	"subject": {"release": {"id": "rel-2847", "requester": {"id": "u-alice", "teams": ["backend"]}}},
	"facts": {"approvals": [_approval(a) | some a in prior], "approval_policies": policies},
}

test_eligible_approver_may_approve if {
	count(approvals.deny) == 0 with input as _approve(_bob, [], [_policy])
	count(approvals.deny) == 0 with input as _approve(_bob, [_carol], [_policy])
}

test_self_approval_is_denied if {
	results := approvals.deny with input as _approve(object.union(_alice, {"name": "alice"}), [], [_policy])
	count(results) == 1
	some r in results
	r.msg == "alice (u-alice) requested release rel-2847 and cannot approve it: approval policy 'prod-two-teams' does not let the requester approve (requester_can_approve is false). Ask an eligible approver to review it."
}

test_self_approval_allowed_by_policy if {
	p := object.union(_policy, {"requester_can_approve": true})
	count(approvals.deny) == 0 with input as _approve(_alice, [], [p])
}

test_self_approval_without_any_policy_is_denied if {
	results := approvals.deny with input as _approve(_alice, [], [])
	some r in results
	r.msg == "u-alice requested release rel-2847 and cannot approve it: no approval policy in this scope lets the requester approve. Ask an eligible approver to review it."
}

test_second_approval_is_denied if {
	results := approvals.deny with input as _approve(_bob, [_bob], [_policy])
	count(results) == 1
	some r in results
	r.msg == "u-bob already approved release rel-2847 at 2026-11-24T09:00:00Z; one person's approval counts once."
}

test_ineligible_approver_is_denied if {
	frank := object.union(_person("u-frank", "member", ["finance"]), {"name": "frank"})
	results := approvals.deny with input as _approve(frank, [], [_policy])
	count(results) == 1
	some r in results
	r.msg == "frank (u-frank) is not an eligible approver for release rel-2847: approval policy 'prod-two-teams' accepts teams sre, backend, platform; roles admin, owner."
}

test_eligible_under_any_applicable_policy if {
	frank := _person("u-frank", "member", ["finance"])
	other := {"name": "finance-signoff", "scope": {"environment": ["production"]}, "eligible": {"teams": ["finance"]}}
	count(approvals.deny) == 0 with input as _approve(frank, [], [_policy, other])
}

test_anyone_may_approve_without_applicable_policies if {
	frank := _person("u-frank", "member", ["finance"])
	staging := _with(_policy, "scope", {"environment": ["staging"]})
	count(approvals.deny) == 0 with input as _approve(frank, [], [staging])
}

test_command_only_policy_does_not_govern_release_approval if {
	frank := _person("u-frank", "member", ["finance"])
	p := object.union(_policy, {"kinds": ["command"]})
	count(approvals.deny) == 0 with input as _approve(frank, [], [p])
}

test_approve_without_release_requester if {
	inp := _with(_approve(_bob, [], [_policy]), "subject", {"release": {"id": "rel-2847"}})
	count(approvals.deny) == 0 with input as inp
}
