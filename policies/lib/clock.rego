# METADATA
# title: Time helpers
# description: |
#   Parsing of the RFC 3339 timestamps and "HH:MM" clock times found in action
#   documents and in freeze, approval and break-glass facts. Every helper checks
#   the shape of its argument first and is undefined on malformed values, so a
#   bad timestamp never raises an evaluation error.
package gatehouse.lib.clock

# True when s has the shape of an RFC 3339 timestamp such as
# "2026-11-22T10:00:00Z" (checked by position, without a regular expression,
# because this runs for every timestamp of every decision).
valid(s) if {
	is_string(s)
	count(s) >= 20
	substring(s, 4, 1) == "-"
	substring(s, 7, 1) == "-"
	substring(s, 10, 1) == "T"
	substring(s, 13, 1) == ":"
	substring(s, 16, 1) == ":"
	every i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] {
		_digit(s, i) >= 0
	}
}

# Nanoseconds since the epoch of an RFC 3339 timestamp; undefined when malformed.
ns(s) := time.parse_rfc3339_ns(s) if valid(s)

# The decision time (input.time) in nanoseconds; undefined when absent or malformed.
now_ns := ns(input.time)

# True when s is a clock time "HH:MM" between "00:00" and "24:00".
valid_hhmm(s) if {
	_hhmm(s)
	_hours(s) < 24
	_digit(s, 3) < 6
}

valid_hhmm(s) if s == "24:00"

_hhmm(s) if {
	is_string(s)
	count(s) == 5
	substring(s, 2, 1) == ":"
	every i in [0, 1, 3, 4] {
		_digit(s, i) >= 0
	}
}

_hours(s) := (_digit(s, 0) * 10) + _digit(s, 1)

# Minutes since midnight of a clock time "HH:MM" ("24:00" is 1440); undefined when malformed.
# Digits are read one by one: to_number does not accept leading zeros everywhere.
minutes(s) := ((_hours(s) * 60) + (_digit(s, 3) * 10)) + _digit(s, 4) if valid_hhmm(s)

# The value of the digit at position i of s, or -1 when it is not a digit.
_digit(s, i) := indexof("0123456789", substring(s, i, 1))

# Day names as time.weekday returns them, indexed Monday = 0.
day_names := ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Day index (Monday = 0) of a day written as "mon", "Mon", "monday" or "Monday".
day_index(d) := i if {
	is_string(d)
	some i, n in day_names
	lower(d) in {lower(n), lower(substring(n, 0, 3))}
}
