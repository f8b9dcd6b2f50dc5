package gatehouse.governance.breakglass_test

import data.gatehouse.governance.breakglass

_request := {
	"justification": "P1 incident: checkout-service returns 500s at 40% since 14:35 UTC; rolling back to rel-2846.",
	"severity": "P1",
	"scope": {"environment": "production", "workload": "checkout"},
	"duration_minutes": 60,
}

_open(request) := {
	"version": 1,
	"kind": "breakglass.open",
	"time": "2026-11-24T14:45:00Z",
	"actor": {"id": "u-sre", "kind": "user", "role": "member", "teams": ["sre"]},
	"scope": {"environment": "production", "workload": "checkout"},
	"subject": {"breakglass": request},
}

_with(obj, key, value) := object.union(object.remove(obj, [key]), {key: value})

_fields(request) := fields if {
	results := breakglass.deny with input as _open(request)
	fields := {r.details.field | some r in results}
}

test_valid_request_is_allowed if {
	count(breakglass.deny) == 0 with input as _open(_request)
}

test_missing_justification if {
	results := breakglass.deny with input as _open(object.remove(_request, ["justification"]))
	count(results) == 1
	some r in results
	r.msg == "Break-glass sessions need a justification: describe the incident, its impact and what you will do (at least 20 characters)."
}

test_blank_justification if {
	_fields(_with(_request, "justification", "   ")) == {"justification"}
}

test_short_justification if {
	results := breakglass.deny with input as _open(_with(_request, "justification", "prod is down"))
	some r in results
	r.msg == "The break-glass justification has 12 characters; at least 20 are required. Describe the incident, its impact and what you will do."
}

test_justification_length_is_configurable if {
	count(breakglass.deny) == 0 with input as _open(_with(_request, "justification", "prod is down"))
		with data.gatehouse.config.breakglass_min_justification as 10
}

test_missing_severity if {
	results := breakglass.deny with input as _open(object.remove(_request, ["severity"]))
	some r in results
	r.msg == "Break-glass sessions need a severity: set severity to one of P1, P2, P3, P4."
}

test_unknown_severity if {
	results := breakglass.deny with input as _open(_with(_request, "severity", "urgent"))
	some r in results
	r.msg == "The break-glass severity 'urgent' is not one of P1, P2, P3, P4; classify the incident with one of them."
}

test_severity_is_case_insensitive if {
	count(breakglass.deny) == 0 with input as _open(_with(_request, "severity", "p2"))
}

test_configured_severities if {
	count(breakglass.deny) == 0 with input as _open(_with(_request, "severity", "critical"))
		with data.gatehouse.config.breakglass_severities as ["critical", "high"]
	_fields(_request) == {"severity"} with data.gatehouse.config.breakglass_severities as ["critical", "high"]
}

test_missing_scope_environment if {
	results := breakglass.deny with input as _open(_with(_request, "scope", {"workload": "checkout"}))
	some r in results
	r.msg == "Break-glass sessions must be scoped: set scope.environment to the environment the emergency change targets (and scope.workload to narrow it further)."
	_fields(object.remove(_request, ["scope"])) == {"scope.environment"}
	_fields(_with(_request, "scope", {"environment": ""})) == {"scope.environment"}
}

test_duration_over_maximum if {
	results := breakglass.deny with input as _open(_with(_request, "duration_minutes", 480))
	count(results) == 1
	some r in results
	r.msg == "The break-glass duration of 480 minutes exceeds the maximum of 240 minutes; request at most 240 minutes and open a new session if the incident needs more time."
}

test_duration_at_maximum_is_allowed if {
	count(breakglass.deny) == 0 with input as _open(_with(_request, "duration_minutes", 240))
}

test_configured_maximum if {
	count(breakglass.deny) == 1 with input as _open(_with(_request, "duration_minutes", 60))
		with data.gatehouse.config.breakglass_max_minutes as 30
}

test_missing_or_invalid_duration if {
	results := breakglass.deny with input as _open(object.remove(_request, ["duration_minutes"]))
	some r in results
	r.msg == "Break-glass sessions must be time-boxed: set duration_minutes to a number of minutes between 1 and 240."
	_fields(_with(_request, "duration_minutes", 0)) == {"duration_minutes"}
	_fields(_with(_request, "duration_minutes", "60")) == {"duration_minutes"}
}

test_empty_request_reports_everything if {
	_fields({}) == {"justification", "severity", "scope.environment", "duration_minutes"}
	count(breakglass.deny) == 4 with input as {"version": 1, "kind": "breakglass.open"}
}

test_other_kinds_are_not_checked if {
	count(breakglass.deny) == 0 with input as _with(_open({}), "kind", "release.deploy")
	count(breakglass.deny) == 0 with input as {"version": 1, "kind": "rollback"}
}
