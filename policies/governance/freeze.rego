# METADATA
# title: Freeze windows block changes
# description: |
#   For release.create, release.deploy, promotion, rollback and command actions,
#   the freeze windows in input.facts.freezes whose scope matches the action are
#   checked at input.time. A window is one-off (start <= time < end) or weekly
#   recurring (days, HH:MM start and end, IANA timezone; a start after the end
#   runs overnight). Windows with
#   effect "deny" block while active; when windows with effect "allow" exist for
#   a scope, changes there need one of them to be active. Deny beats allow. A
#   live break-glass session of the actor that covers a scope exempts it. A
#   malformed deny window blocks until it is fixed.
# custom:
#   kinds: [release.create, release.deploy, promotion, rollback, command]
#   severity: high
package gatehouse.governance.freeze

import data.gatehouse.lib.clock
import data.gatehouse.lib.clock.day_names
import data.gatehouse.lib.clock.now_ns
import data.gatehouse.lib.scope
import data.gatehouse.lib.scope.flat_scopes

# Action kinds freezes apply to.
governed_kinds := {"release.create", "release.deploy", "promotion", "rollback", "command"}

_nouns := {
	"release.create": "creating releases",
	"release.deploy": "deployments",
	"promotion": "promotions",
	"rollback": "rollbacks",
	"command": "cluster commands",
}

_noun := n if {
	n := _nouns[input.kind]
} else := sprintf("%v actions", [input.kind])

_breakglass_hint := "open a break-glass session for this scope to proceed"

_freezes := [f |
	facts := object.get(input, ["facts", "freezes"], [])
	is_array(facts)
	some f in facts
	is_object(f)
]

# Each freeze with what is wrong with its definition, worked out once.
_windows := [{"freeze": f, "problems": problems(f), "effect": _effect(f)} | some f in _freezes]

_effect(f) := "allow" if {
	is_string(f.effect)
	lower(f.effect) == "allow"
} else := "deny"

_name(f) := n if {
	n := f.name
	is_string(n)
	n != ""
} else := "(unnamed)"

# The (flattened) action scopes a freeze matches that no live break-glass session covers.
_blocked_scopes(f) := [s |
	n := scope.normalize(object.get(f, "scope", {}))
	some s in flat_scopes
	scope.covers(n, s)
	not scope.breakglass_covers(s)
]

_environments(scopes) := envs if {
	envs := {e | some s in scopes; e := s.environment; is_string(e)}
	count(envs) > 0
} else := set()

_where(scopes) := sprintf(" in %s", [concat(", ", sort(_environments(scopes)))]) if {
	count(_environments(scopes)) > 0
} else := ""

_reason(f) := sprintf(" (reason: %s)", [trim_right(f.reason, ". ")]) if {
	is_string(f.reason)
	f.reason != ""
} else := ""

# --- definitions -------------------------------------------------------------

_recurring(f) if is_object(f.recurring)

_present(obj, key) if not object.get(obj, key, null) in {null, ""}

_tz_pattern := `^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`

_tz(f) := tz if {
	tz := f.recurring.timezone
	is_string(tz)
	tz != ""
} else := "UTC"

# What is wrong with a freeze definition, if anything.
problems(f) := {p |
	not _recurring(f)
	some key in ["start", "end"]
	_present(f, key)
	not clock.valid(f[key])
	p := sprintf("%s '%v' is not an RFC 3339 time", [key, f[key]])
} | {p |
	_recurring(f)
	r := f.recurring
	some key in ["start", "end"]
	_present(r, key)
	not clock.valid_hhmm(r[key])
	p := sprintf("recurring.%s '%v' is not a clock time HH:MM", [key, r[key]])
} | {p |
	_recurring(f)
	some d in scope.as_list(object.get(f.recurring, "days", null))
	not clock.day_index(d)
	p := sprintf("recurring.days has '%v', which is not a day of the week", [d])
} | {p |
	_recurring(f)
	not regex.match(_tz_pattern, _tz(f))
	p := sprintf("recurring.timezone '%v' is not a timezone name", [_tz(f)])
} | {p |
	_recurring(f)
	w := _window(f)
	w.start == w.end
	p := "recurring.start and recurring.end are equal"
}

_well_formed(f) if count(problems(f)) == 0

# Start and end of a recurring window in minutes since midnight.
_window(f) := {"start": s, "end": e} if {
	s := clock.minutes(object.get(f.recurring, "start", "00:00"))
	e := clock.minutes(object.get(f.recurring, "end", "24:00"))
}

_days(f) := {i | some d in scope.as_list(object.get(f.recurring, "days", null)); i := clock.day_index(d)}

_on_day(f, i) if count(scope.as_list(object.get(f.recurring, "days", null))) == 0

_on_day(f, i) if i in _days(f)

# Day of the week (Monday = 0) and minute of the day at `now` in the window's timezone.
_local(f, now) := {"day": day, "minute": (hm[0] * 60) + hm[1]} if {
	at := [now, _tz(f)]
	hm := time.clock(at)
	day := clock.day_index(time.weekday(at))
}

# --- activity ----------------------------------------------------------------

active(f, now) if {
	_well_formed(f)
	_active(f, now)
}

# Activity of a well-formed window.
_active(f, now) if {
	not _recurring(f)
	_after_start(f, now)
	_before_end(f, now)
}

_active(f, now) if {
	_recurring(f)
	_in_window(f, _window(f), _local(f, now))
}

_after_start(f, _) if not _present(f, "start")

_after_start(f, now) if clock.ns(f.start) <= now

_before_end(f, _) if not _present(f, "end")

_before_end(f, now) if now < clock.ns(f.end)

_in_window(f, w, loc) if {
	w.start < w.end
	_on_day(f, loc.day)
	w.start <= loc.minute
	loc.minute < w.end
}

_in_window(f, w, loc) if {
	w.start > w.end
	_on_day(f, loc.day)
	loc.minute >= w.start
}

_in_window(f, w, loc) if {
	w.start > w.end
	_on_day(f, (loc.day + 6) % 7)
	loc.minute < w.end
}

# --- when an active window ends ----------------------------------------------

# RFC 3339 end of a one-off window, or the weekday, clock time and timezone at
# which the current occurrence of a recurring window ends.
ends(f, _) := f.end if {
	not _recurring(f)
	_present(f, "end")
}

ends(f, _) := "it is lifted" if {
	not _recurring(f)
	not _present(f, "end")
}

ends(f, now) := s if {
	_recurring(f)
	end := _recurring_end(f, _window(f), _local(f, now))
	s := _format_end(f, end)
}

_format_end(f, end) := sprintf("%s %s %s", [day_names[end.day], end.time, _tz(f)]) if end.day >= 0

else := "it is lifted (it recurs every day around the clock)"

_end_time(f) := "00:00" if _window(f).end == 1440

else := f.recurring.end

# Overnight window, late part: ends tomorrow.
_recurring_end(f, w, loc) := {"day": (loc.day + 1) % 7, "time": _end_time(f)} if {
	w.start > w.end
	loc.minute >= w.start
}

# Overnight window, early part: ends today.
_recurring_end(f, w, loc) := {"day": loc.day, "time": _end_time(f)} if {
	w.start > w.end
	loc.minute < w.start
}

# Same-day window ending before midnight.
_recurring_end(f, w, loc) := {"day": loc.day, "time": _end_time(f)} if {
	w.start < w.end
	w.end < 1440
}

# Window to midnight that does not start at midnight: ends at 00:00 tomorrow.
_recurring_end(f, w, loc) := {"day": (loc.day + 1) % 7, "time": "00:00"} if {
	w.start > 0
	w.start < w.end
	w.end == 1440
}

# All-day window: runs on through the following listed days.
_recurring_end(f, w, loc) := {"day": day, "time": "00:00"} if {
	w.start == 0
	w.end == 1440
	gaps := [i | some i in numbers.range(1, 7); not _on_day(f, (loc.day + i) % 7)]
	day := _first_gap(gaps, loc.day)
}

_first_gap(gaps, today) := (today + min(gaps)) % 7 if count(gaps) > 0

else := -1

_describe(f) := sprintf("recurring %s %s-%s %s", [
	_days_text(f),
	object.get(f.recurring, "start", "00:00"),
	object.get(f.recurring, "end", "24:00"),
	_tz(f),
]) if {
	_recurring(f)
} else := sprintf("from %v to %v", [f.start, f.end]) if {
	_present(f, "start")
	_present(f, "end")
} else := sprintf("from %v until lifted", [f.start]) if {
	_present(f, "start")
} else := sprintf("until %v", [f.end]) if {
	_present(f, "end")
} else := "until lifted"

_days_text(f) := "every day" if {
	count(scope.as_list(object.get(f.recurring, "days", null))) == 0
} else := concat(", ", [sprintf("%v", [d]) | some d in scope.as_list(f.recurring.days)])

# --- decisions ---------------------------------------------------------------

deny contains v if {
	input.kind in governed_kinds
	now := now_ns
	some w in _windows
	w.effect == "deny"
	count(w.problems) == 0
	f := w.freeze
	_active(f, now)
	blocked := _blocked_scopes(f)
	count(blocked) > 0
	v := {
		"msg": sprintf("Freeze '%s' blocks %s%s until %s%s. Wait until it ends, or %s.", [
			_name(f),
			_noun,
			_where(blocked),
			ends(f, now),
			_reason(f),
			_breakglass_hint,
		]),
		"severity": "high",
		"details": {
			"freeze": _name(f),
			"effect": "deny",
			"window": _describe(f),
			"ends": ends(f, now),
			"reason": object.get(f, "reason", null),
		},
	}
}

deny contains v if {
	input.kind in governed_kinds
	now_ns
	some w in _windows
	w.effect == "deny"
	count(w.problems) > 0
	f := w.freeze
	blocked := _blocked_scopes(f)
	count(blocked) > 0
	v := {
		"msg": sprintf("Freeze '%s' has an invalid definition (%s), so it blocks %s%s until it is fixed. Correct the freeze, or %s.", [
			_name(f),
			concat("; ", sort(w.problems)),
			_noun,
			_where(blocked),
			_breakglass_hint,
		]),
		"severity": "high",
		"details": {"freeze": _name(f), "effect": "deny", "problems": sort(w.problems)},
	}
}

# Allow windows with their normalized scope; a malformed one is never open.
_allow_windows := [{"freeze": w.freeze, "scope": scope.normalize(object.get(w.freeze, "scope", {})), "ok": count(w.problems) == 0} |
	some w in _windows
	w.effect == "allow"
]

deny contains v if {
	input.kind in governed_kinds
	now := now_ns
	count(_allow_windows) > 0
	some s in flat_scopes
	windows := [w | some w in _allow_windows; scope.covers(w.scope, s)]
	count(windows) > 0
	not _any_open(windows, now)
	not scope.breakglass_covers(s)
	v := {
		"msg": sprintf("No change window is open for %s%s: they are allowed only during %s. Wait for a window to open, or %s.", [
			_noun,
			_where([s]),
			concat(", ", [sprintf("'%s' (%s)", [_name(w.freeze), _describe(w.freeze)]) | some w in windows]),
			_breakglass_hint,
		]),
		"severity": "high",
		"details": {"effect": "allow", "windows": [_name(w.freeze) | some w in windows]},
	}
}

_any_open(windows, now) if {
	some w in windows
	w.ok
	_active(w.freeze, now)
}

deny contains v if {
	input.kind in governed_kinds
	not now_ns
	some f in _freezes
	scope.matches_action(object.get(f, "scope", {}))
	v := {
		"msg": sprintf("Freeze windows for %s cannot be checked: the action has no valid time (input.time must be an RFC 3339 timestamp). Submit the action again with its time set.", [_noun]),
		"severity": "high",
		"details": {"time": object.get(input, "time", null)},
	}
}
