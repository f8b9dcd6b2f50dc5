package gatehouse.lib.scope_test

import data.gatehouse.lib.scope

_action_scope := {
	"org": "acme",
	"project": "payments",
	"environment": "production",
	"tenant": "tenant-a",
	"workload": "payment-api",
	"cluster": {"name": "prod-eu-1", "labels": {"tier": "production", "region": "eu"}},
}

test_empty_definition_matches_everything if {
	scope.matches({}, _action_scope)
	scope.matches(null, _action_scope)
	scope.matches({}, {})
}

test_lists_of_allowed_values if {
	scope.matches({"environment": ["staging", "production"]}, _action_scope)
	not scope.matches({"environment": ["staging"]}, _action_scope)
	scope.matches({"environment": [], "tenant": ["tenant-a", "tenant-b"]}, _action_scope)
	scope.matches({"org": ["acme"], "project": ["payments"], "workload": ["payment-api"]}, _action_scope)
	not scope.matches({"org": ["acme"], "project": ["orders"]}, _action_scope)
}

test_wildcard_and_plain_strings if {
	scope.matches({"environment": ["*"]}, _action_scope)
	scope.matches({"environment": "*"}, _action_scope)
	scope.matches({"environment": "production"}, _action_scope)
	not scope.matches({"environment": "staging"}, _action_scope)
	scope.matches({"environment": ""}, _action_scope)
}

test_field_absent_from_action if {
	not scope.matches({"tenant": ["tenant-a"]}, {"environment": "production"})
	scope.matches({"tenant": ["*"]}, {"environment": "production"})
}

test_cluster_names_and_labels if {
	scope.matches({"cluster": ["prod-eu-1"]}, _action_scope)
	not scope.matches({"cluster": ["prod-us-1"]}, _action_scope)
	scope.matches({"cluster": ["prod-eu-1"]}, {"cluster": "prod-eu-1"})
	scope.matches({"cluster_labels": {"tier": "production"}}, _action_scope)
	scope.matches({"cluster_labels": {"tier": "production", "region": "eu"}}, _action_scope)
	not scope.matches({"cluster_labels": {"tier": "production", "region": "us"}}, _action_scope)
	scope.matches({"cluster_labels": {"region": "*"}}, _action_scope)
	not scope.matches({"cluster_labels": {"zone": "*"}}, _action_scope)
	not scope.matches({"cluster_labels": {"tier": "production"}}, {"environment": "production"})
	scope.matches({"cluster_labels": {}}, _action_scope)
}

test_action_scopes_from_release_changes if {
	inp := {"scope": {"project": "payments", "environment": "production"}, "subject": {"release": {"changes": [
		{"workload": "cart", "tenant": "t1", "path": "image.tag"},
		{"workload": "cart", "tenant": "t1", "path": "replicas"},
		{"workload": "checkout", "environment": "production"},
	]}}}
	scope.action_scopes == {
		{"project": "payments", "environment": "production", "workload": "cart", "tenant": "t1"},
		{"project": "payments", "environment": "production", "workload": "checkout"},
	} with input as inp
	scope.matches_action({"workload": ["checkout"]}) with input as inp
	not scope.matches_action({"workload": ["orders"]}) with input as inp
}

test_action_scopes_without_changes if {
	scope.action_scopes == {{"environment": "production"}} with input as {"scope": {"environment": "production"}}
	scope.action_scopes == {{}} with input as {}
}

_session(extra) := object.union({
	"id": "bg-1",
	"actor": "u-alice",
	"scope": {"environment": "production", "workload": "payment-api"},
	"opened_at": "2026-11-24T09:00:00Z",
	"expires_at": "2026-11-24T10:00:00Z",
}, extra)

_input(time, sessions) := {
	"time": time,
	"actor": {"id": "u-alice"},
	"scope": _action_scope,
	"facts": {"breakglass": sessions},
}

test_breakglass_active if {
	scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({})])
	[s.id | some s in scope.active_breakglass] == ["bg-1"] with input as _input("2026-11-24T09:30:00Z", [_session({})])
}

test_breakglass_time_box if {
	not scope.breakglass_active with input as _input("2026-11-24T10:00:00Z", [_session({})])
	not scope.breakglass_active with input as _input("2026-11-24T08:59:59Z", [_session({})])
	scope.breakglass_active with input as _input("2026-11-24T08:59:59Z", [object.remove(_session({}), ["opened_at"])])
	not scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [object.remove(_session({}), ["expires_at"])])
	not scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({"expires_at": "soon"})])
}

test_breakglass_actor_and_scope if {
	not scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({"actor": "u-bob"})])
	not scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({"scope": {"environment": "staging"}})])
	not scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({"scope": {"workload": "checkout"}})])
	scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [object.remove(_session({}), ["scope"])])
	scope.breakglass_active with input as _input("2026-11-24T09:30:00Z", [_session({"scope": {"environment": ["staging", "production"]}})])
}

test_breakglass_without_time_or_facts if {
	not scope.breakglass_active with input as object.remove(_input("x", [_session({})]), ["time"])
	not scope.breakglass_active with input as {"actor": {"id": "u-alice"}}
	not scope.breakglass_active with input as {"time": "2026-11-24T09:30:00Z", "facts": {"breakglass": [_session({})]}}
}

test_as_list if {
	scope.as_list(["a"]) == ["a"]
	scope.as_list("a") == ["a"]
	scope.as_list("") == []
	scope.as_list(null) == []
	scope.as_list(3) == []
}

test_normalize if {
	scope.normalize({"environment": ["production"], "tenant": [], "workload": ["*"], "cluster": "prod-eu-1", "cluster_labels": {"tier": "production"}}) == {
		"fields": {"environment": {"production"}, "cluster": {"prod-eu-1"}},
		"labels": {"tier": "production"},
	}
	scope.normalize(null) == {"fields": {}, "labels": {}}
}

test_flatten if {
	flat := scope.flatten(_action_scope)
	flat.cluster == "prod-eu-1"
	flat.cluster_labels == {"tier": "production", "region": "eu"}
	flat.environment == "production"
	scope.flatten(flat) == flat
	scope.flatten({"environment": "staging"}) == {"environment": "staging"}
}

test_covers if {
	flat := scope.flatten(_action_scope)
	scope.covers(scope.normalize({"environment": ["production"], "cluster_labels": {"tier": "production"}}), flat)
	not scope.covers(scope.normalize({"environment": ["staging"]}), flat)
	scope.covers(scope.normalize({}), {})
}

test_flat_scopes if {
	inp := {"scope": {"environment": "production", "cluster": {"name": "c1", "labels": {}}}, "subject": {"release": {"changes": [{"workload": "a", "path": "x"}]}}}
	scope.flat_scopes == {{"environment": "production", "cluster": "c1", "cluster_labels": {}, "workload": "a"}} with input as inp
}
