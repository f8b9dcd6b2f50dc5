package gatehouse.governance.freeze_test

import data.gatehouse.governance.freeze

_with(obj, key, value) := object.union(object.remove(obj, [key]), {key: value})

_maintenance := {
	"name": "maintenance",
	"reason": "Database failover test",
	"effect": "deny",
	"scope": {"environment": ["production"]},
	"start": "2026-11-24T08:00:00Z",
	"end": "2026-11-24T12:00:00Z",
}

_weekend := {
	"name": "weekend",
	"effect": "deny",
	"scope": {},
	"recurring": {"days": ["sat", "sun"], "start": "00:00", "end": "24:00", "timezone": "Europe/Berlin"},
}

_action(time, freezes) := {
	"version": 1,
	"kind": "release.deploy",
	"time": time,
	"actor": {"id": "u-alice", "kind": "user", "role": "member", "teams": ["backend"]},
	"scope": {"org": "acme", "project": "payments", "environment": "production", "workload": "checkout"},
	"facts": {"freezes": freezes},
}

_msgs(inp) := msgs if {
	results := freeze.deny with input as inp
	msgs := {r.msg | some r in results}
}

test_active_one_off_freeze_denies if {
	results := freeze.deny with input as _action("2026-11-24T10:00:00Z", [_maintenance])
	count(results) == 1
	some r in results
	r.msg == "Freeze 'maintenance' blocks deployments in production until 2026-11-24T12:00:00Z (reason: Database failover test). Wait until it ends, or open a break-glass session for this scope to proceed."
	r.details.ends == "2026-11-24T12:00:00Z"
	r.details.freeze == "maintenance"
}

test_one_off_window_bounds if {
	count(freeze.deny) == 1 with input as _action("2026-11-24T08:00:00Z", [_maintenance])
	count(freeze.deny) == 0 with input as _action("2026-11-24T07:59:59Z", [_maintenance])
	count(freeze.deny) == 0 with input as _action("2026-11-24T12:00:00Z", [_maintenance])
	count(freeze.deny) == 1 with input as _action("2026-11-24T11:59:59.999Z", [_maintenance])
}

test_one_off_with_offsets if {
	f := _with(_with(_maintenance, "start", "2026-11-24T09:00:00+01:00"), "end", "2026-11-24T13:00:00+01:00")
	count(freeze.deny) == 1 with input as _action("2026-11-24T11:30:00Z", [f])
	count(freeze.deny) == 0 with input as _action("2026-11-24T12:30:00Z", [f])
}

test_open_ended_freeze if {
	f := object.remove(_maintenance, ["end", "reason"])
	results := freeze.deny with input as _action("2027-03-01T00:00:00Z", [f])
	some r in results
	r.msg == "Freeze 'maintenance' blocks deployments in production until it is lifted. Wait until it ends, or open a break-glass session for this scope to proceed."
}

test_freeze_in_other_environment_does_not_apply if {
	f := _with(_maintenance, "scope", {"environment": ["staging"]})
	count(freeze.deny) == 0 with input as _action("2026-11-24T10:00:00Z", [f])
}

test_freeze_scoped_to_cluster_labels if {
	f := _with(_maintenance, "scope", {"cluster_labels": {"tier": "production"}})
	inp := _action("2026-11-24T10:00:00Z", [f])
	count(freeze.deny) == 0 with input as inp
	labelled := object.union(inp, {"scope": {"cluster": {"name": "prod-eu-1", "labels": {"tier": "production"}}}})
	count(freeze.deny) == 1 with input as labelled
}

test_weekend_freeze_in_timezone if {
	# Saturday 10:00 UTC.
	results := freeze.deny with input as _action("2026-11-28T10:00:00Z", [_weekend])
	some r in results
	r.msg == "Freeze 'weekend' blocks deployments in production until Monday 00:00 Europe/Berlin. Wait until it ends, or open a break-glass session for this scope to proceed."
	r.details.window == "recurring sat, sun 00:00-24:00 Europe/Berlin"
}

test_weekend_starts_at_local_midnight if {
	# Friday 23:30 UTC is Saturday 00:30 in Berlin (UTC+1 in November).
	count(freeze.deny) == 1 with input as _action("2026-11-27T23:30:00Z", [_weekend])
	# Friday 22:30 UTC is still Friday 23:30 in Berlin.
	count(freeze.deny) == 0 with input as _action("2026-11-27T22:30:00Z", [_weekend])
	# Sunday 23:30 UTC is already Monday 00:30 in Berlin.
	count(freeze.deny) == 0 with input as _action("2026-11-29T23:30:00Z", [_weekend])
}

test_weekday_window_ends_same_day if {
	f := {"name": "peak", "recurring": {"days": ["Monday", "Tuesday"], "start": "09:00", "end": "17:30", "timezone": "UTC"}}
	_msgs(_action("2026-11-24T12:00:00Z", [f])) == {"Freeze 'peak' blocks deployments in production until Tuesday 17:30 UTC. Wait until it ends, or open a break-glass session for this scope to proceed."}
	count(freeze.deny) == 0 with input as _action("2026-11-24T17:30:00Z", [f])
	count(freeze.deny) == 0 with input as _action("2026-11-25T12:00:00Z", [f])
}

test_timezone_defaults_to_utc if {
	f := {"name": "nightly", "recurring": {"start": "02:00", "end": "04:00"}}
	_msgs(_action("2026-11-25T03:00:00Z", [f])) == {"Freeze 'nightly' blocks deployments in production until Wednesday 04:00 UTC. Wait until it ends, or open a break-glass session for this scope to proceed."}
	count(freeze.deny) == 0 with input as _action("2026-11-25T04:00:00Z", [f])
}

test_overnight_window if {
	f := {"name": "batch", "reason": "Nightly settlement", "recurring": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "06:00", "timezone": "UTC"}}
	# Tuesday 23:00: late part, ends Wednesday 06:00.
	_msgs(_action("2026-11-24T23:00:00Z", [f])) == {"Freeze 'batch' blocks deployments in production until Wednesday 06:00 UTC (reason: Nightly settlement). Wait until it ends, or open a break-glass session for this scope to proceed."}
	# Wednesday 05:00: early part of Tuesday's window.
	_msgs(_action("2026-11-25T05:00:00Z", [f])) == {"Freeze 'batch' blocks deployments in production until Wednesday 06:00 UTC (reason: Nightly settlement). Wait until it ends, or open a break-glass session for this scope to proceed."}
	# Saturday 05:00: Friday night's window.
	count(freeze.deny) == 1 with input as _action("2026-11-28T05:00:00Z", [f])
	# Monday 05:00: Sunday night is not frozen.
	count(freeze.deny) == 0 with input as _action("2026-11-23T05:00:00Z", [f])
	# Wednesday noon.
	count(freeze.deny) == 0 with input as _action("2026-11-25T12:00:00Z", [f])
}

test_evening_window_to_midnight if {
	f := {"name": "evening", "recurring": {"days": ["fri"], "start": "18:00", "end": "24:00", "timezone": "UTC"}}
	_msgs(_action("2026-11-27T20:00:00Z", [f])) == {"Freeze 'evening' blocks deployments in production until Saturday 00:00 UTC. Wait until it ends, or open a break-glass session for this scope to proceed."}
}

test_every_day_all_day_freeze if {
	f := {"name": "lockdown", "recurring": {"start": "00:00", "end": "24:00"}}
	some r in freeze.deny with input as _action("2026-11-24T10:00:00Z", [f])
	contains(r.msg, "until it is lifted (it recurs every day around the clock)")
}

_business_hours := {
	"name": "business-hours",
	"effect": "allow",
	"scope": {"environment": ["production"]},
	"recurring": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"},
}

test_allow_window_open_allows if {
	count(freeze.deny) == 0 with input as _action("2026-11-24T10:00:00Z", [_business_hours])
}

test_allow_window_closed_denies if {
	results := freeze.deny with input as _action("2026-11-24T17:00:00Z", [_business_hours])
	count(results) == 1
	some r in results
	r.msg == "No change window is open for deployments in production: they are allowed only during 'business-hours' (recurring mon, tue, wed, thu, fri 09:00-17:00 Europe/Berlin). Wait for a window to open, or open a break-glass session for this scope to proceed."
}

test_any_open_allow_window_is_enough if {
	extra := {"name": "release-day", "effect": "allow", "start": "2026-11-28T08:00:00Z", "end": "2026-11-28T12:00:00Z"}
	count(freeze.deny) == 0 with input as _action("2026-11-28T09:00:00Z", [_business_hours, extra])
	count(freeze.deny) == 1 with input as _action("2026-11-28T13:00:00Z", [_business_hours, extra])
}

test_allow_windows_of_other_scopes_do_not_restrict if {
	staging := _with(_business_hours, "scope", {"environment": ["staging"]})
	count(freeze.deny) == 0 with input as _action("2026-11-28T13:00:00Z", [staging])
}

test_deny_beats_allow if {
	results := freeze.deny with input as _action("2026-11-24T10:00:00Z", [_business_hours, _maintenance])
	{r.details.freeze | some r in results} == {"maintenance"}
}

_session(actor, scope, expires) := {
	"id": "bg-7",
	"actor": actor,
	"scope": scope,
	"opened_at": "2026-11-24T09:45:00Z",
	"expires_at": expires,
	"justification": "P1: checkout returns 500s since 09:30 UTC",
	"severity": "P1",
}

_with_session(inp, session) := object.union(inp, {"facts": {"breakglass": [session]}})

test_breakglass_exempts if {
	inp := _with_session(_action("2026-11-24T10:00:00Z", [_maintenance, _weekend]), _session("u-alice", {"environment": "production", "workload": "checkout"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 0 with input as inp
}

test_breakglass_exempts_from_allow_windows if {
	inp := _with_session(_action("2026-11-24T18:00:00Z", [_business_hours]), _session("u-alice", {"environment": "production"}, "2026-11-24T19:00:00Z"))
	count(freeze.deny) == 0 with input as inp
}

test_expired_breakglass_does_not_exempt if {
	inp := _with_session(_action("2026-11-24T11:00:00Z", [_maintenance]), _session("u-alice", {"environment": "production"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as inp
}

test_breakglass_not_yet_open_does_not_exempt if {
	inp := _with_session(_action("2026-11-24T09:00:00Z", [_maintenance]), _session("u-alice", {"environment": "production"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as inp
}

test_breakglass_of_another_actor_does_not_exempt if {
	inp := _with_session(_action("2026-11-24T10:00:00Z", [_maintenance]), _session("u-bob", {"environment": "production"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as inp
}

test_breakglass_for_another_scope_does_not_exempt if {
	other_workload := _with_session(_action("2026-11-24T10:00:00Z", [_maintenance]), _session("u-alice", {"environment": "production", "workload": "cart"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as other_workload
	other_env := _with_session(_action("2026-11-24T10:00:00Z", [_maintenance]), _session("u-alice", {"environment": "staging"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as other_env
}

test_breakglass_covers_only_its_workload_in_a_release if {
	f := _with(_maintenance, "scope", {"environment": ["production"]})
	inp := object.union(_with(_action("2026-11-24T10:00:00Z", [f]), "scope", {"environment": "production"}), {"subject": {"release": {"changes": [
		{"workload": "checkout", "environment": "production", "path": "image.tag"},
		{"workload": "cart", "environment": "production", "path": "image.tag"},
	]}}})
	covered := _with_session(inp, _session("u-alice", {"environment": "production", "workload": "checkout"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 1 with input as covered
	all := _with_session(inp, _session("u-alice", {"environment": "production"}, "2026-11-24T11:00:00Z"))
	count(freeze.deny) == 0 with input as all
}

test_workload_freeze_matches_release_changes if {
	f := _with(_maintenance, "scope", {"environment": ["production"], "workload": ["checkout"]})
	base := _with(_action("2026-11-24T10:00:00Z", [f]), "scope", {"environment": "production"})
	count(freeze.deny) == 0 with input as base
	touching := object.union(base, {"subject": {"release": {"changes": [{"workload": "checkout", "path": "env.CACHE_ENDPOINT"}]}}})
	count(freeze.deny) == 1 with input as touching
}

test_every_governed_kind_is_blocked if {
	every kind in ["release.create", "release.deploy", "promotion", "rollback", "command"] {
		count(freeze.deny) == 1 with input as _with(_action("2026-11-24T10:00:00Z", [_maintenance]), "kind", kind)
	}
}

test_other_kinds_are_not_blocked if {
	every kind in ["render", "release.approve", "breakglass.open"] {
		count(freeze.deny) == 0 with input as _with(_action("2026-11-24T10:00:00Z", [_maintenance]), "kind", kind)
	}
}

test_rollback_message_names_rollbacks if {
	some r in freeze.deny with input as _with(_action("2026-11-24T10:00:00Z", [_maintenance]), "kind", "rollback")
	startswith(r.msg, "Freeze 'maintenance' blocks rollbacks in production until")
}

test_missing_time_fails_closed if {
	inp := object.remove(_action("2026-11-24T10:00:00Z", [_maintenance]), ["time"])
	some r in freeze.deny with input as inp
	r.msg == "Freeze windows for deployments cannot be checked: the action has no valid time (input.time must be an RFC 3339 timestamp). Submit the action again with its time set."
	count(freeze.deny) == 1 with input as _with(inp, "time", "yesterday")
}

test_missing_time_without_freezes_is_fine if {
	count(freeze.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "scope": {"environment": "production"}}
}

test_malformed_deny_window_fails_closed if {
	f := {"name": "broken", "effect": "deny", "recurring": {"days": ["sat", "someday"], "start": "25:00", "end": "06:00", "timezone": "Europe/Berlin"}}
	results := freeze.deny with input as _action("2026-11-24T10:00:00Z", [f])
	some r in results
	r.msg == "Freeze 'broken' has an invalid definition (recurring.days has 'someday', which is not a day of the week; recurring.start '25:00' is not a clock time HH:MM), so it blocks deployments in production until it is fixed. Correct the freeze, or open a break-glass session for this scope to proceed."
}

test_malformed_one_off_fails_closed if {
	f := _with(_maintenance, "end", "next tuesday")
	some r in freeze.deny with input as _action("2026-11-24T10:00:00Z", [f])
	contains(r.msg, "end 'next tuesday' is not an RFC 3339 time")
}

test_malformed_allow_window_is_never_open if {
	f := {"name": "odd", "effect": "allow", "recurring": {"start": "9am", "end": "5pm"}}
	count(freeze.deny) == 1 with input as _action("2026-11-24T10:00:00Z", [f])
}

test_absent_facts_no_findings if {
	count(freeze.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "time": "2026-11-24T10:00:00Z"}
	count(freeze.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "time": "2026-11-24T10:00:00Z", "facts": {"freezes": null}}
	count(freeze.deny) == 0 with input as {"version": 1, "kind": "release.deploy", "time": "2026-11-28T10:00:00Z", "facts": {"freezes": [{"name": "x", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}]}}
}

# --- cron and RRULE schedules (evaluated by the freeze-windows plugin) ---------

_friday_evening := {
	"name": "weekend-freeze",
	"reason": "No production changes at weekends",
	"scope": {"environment": ["production"]},
	"schedule": {"cron": "0 18 * * FRI", "duration": "2d 14h", "timezone": "Europe/Berlin"},
}

test_cron_window_blocks_and_says_when_it_ends if {
	# Saturday 2026-11-28 10:00 UTC: inside the window opened Friday 18:00 Berlin.
	results := freeze.deny with input as _action("2026-11-28T10:00:00Z", [_friday_evening])
	count(results) == 1
	some r in results
	r.msg == "Freeze 'weekend-freeze' blocks deployments in production until Monday 2026-11-30 08:00 Europe/Berlin (reason: No production changes at weekends). Wait until it ends, or open a break-glass session for this scope to proceed."
	r.details.ends_at == "2026-11-30T07:00:00Z"
	r.details.window == "cron '0 18 * * FRI' for 2d 14h Europe/Berlin"
}

test_cron_window_bounds if {
	# Friday 16:59 UTC is 17:59 in Berlin; 17:00 UTC is 18:00.
	count(freeze.deny) == 0 with input as _action("2026-11-27T16:59:00Z", [_friday_evening])
	count(freeze.deny) == 1 with input as _action("2026-11-27T17:00:00Z", [_friday_evening])
	count(freeze.deny) == 0 with input as _action("2026-11-30T07:00:00Z", [_friday_evening])
}

test_rrule_window if {
	# The last Friday of each month from 17:00 New York, for 2 days and 15 hours.
	f := {"name": "month-end", "schedule": {
		"rrule": "FREQ=MONTHLY;BYDAY=-1FR",
		"dtstart": "2026-01-01T17:00",
		"duration": "P2DT15H",
		"timezone": "America/New_York",
	}}
	_msgs(_action("2026-11-29T12:00:00Z", [f])) == {"Freeze 'month-end' blocks deployments in production until Monday 2026-11-30 08:00 America/New_York. Wait until it ends, or open a break-glass session for this scope to proceed."}
	count(freeze.deny) == 0 with input as _action("2026-11-22T12:00:00Z", [f])
}

test_rrule_allow_window if {
	# Changes only on the first Tuesday of the month, 09:00-13:00 UTC.
	f := {"name": "change-day", "effect": "allow", "schedule": {"rrule": "FREQ=MONTHLY;BYDAY=1TU", "dtstart": "2026-01-01T09:00", "duration": "PT4H"}}
	count(freeze.deny) == 0 with input as _action("2026-12-01T10:00:00Z", [f])
	some r in freeze.deny with input as _action("2026-12-08T10:00:00Z", [f])
	r.msg == "No change window is open for deployments in production: they are allowed only during 'change-day' (rrule 'FREQ=MONTHLY;BYDAY=1TU' from 2026-01-01T09:00 for PT4H UTC). Wait for a window to open, or open a break-glass session for this scope to proceed."
}

test_malformed_schedule_fails_closed if {
	f := {"name": "typo", "schedule": {"cron": "0 25 * * *", "duration": "1h", "timezone": "Europe/Berlin"}}
	some r in freeze.deny with input as _action("2026-11-24T10:00:00Z", [f])
	r.msg == "Freeze 'typo' has an invalid definition (schedule.cron '0 25 * * *' hour field has 25, outside 0-23), so it blocks deployments in production until it is fixed. Correct the freeze, or open a break-glass session for this scope to proceed."
}

test_unknown_timezone_fails_closed if {
	f := {"name": "mars", "recurring": {"start": "09:00", "end": "10:00", "timezone": "Mars/Olympus_Mons"}}
	some r in freeze.deny with input as _action("2026-11-24T10:00:00Z", [f])
	contains(r.msg, "recurring.timezone 'Mars/Olympus_Mons' is not a timezone name")
}
