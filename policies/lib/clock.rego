# METADATA
# title: Time helpers
# description: |
#   Parsing of the RFC 3339 timestamps and "HH:MM" clock times found in action
#   documents and in freeze, approval and break-glass facts. Every helper checks
#   the shape of its argument first and is undefined on malformed values, so a
#   bad timestamp never raises an evaluation error.
package gatehouse.lib.clock

rfc3339_pattern := `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`

hhmm_pattern := `^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`

# True when s is an RFC 3339 timestamp such as "2026-11-22T10:00:00Z".
valid(s) if {
	is_string(s)
	regex.match(rfc3339_pattern, s)
}

# Nanoseconds since the epoch of an RFC 3339 timestamp; undefined when malformed.
ns(s) := time.parse_rfc3339_ns(s) if valid(s)

# The decision time (input.time) in nanoseconds; undefined when absent or malformed.
now_ns := ns(input.time)

# True when s is a clock time "HH:MM" between "00:00" and "24:00".
valid_hhmm(s) if {
	is_string(s)
	regex.match(hhmm_pattern, s)
}

# Minutes since midnight of a clock time "HH:MM" ("24:00" is 1440); undefined when malformed.
# Digits are read one by one: to_number does not accept leading zeros everywhere.
minutes(s) := (((_digit(s, 0) * 10) + _digit(s, 1)) * 60) + (_digit(s, 3) * 10) + _digit(s, 4) if valid_hhmm(s)

_digit(s, i) := indexof("0123456789", substring(s, i, 1))

# Day names as time.weekday returns them, indexed Monday = 0.
day_names := ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Day index (Monday = 0) of a day written as "mon", "Mon", "monday" or "Monday".
day_index(d) := i if {
	is_string(d)
	some i, n in day_names
	lower(d) in {lower(n), lower(substring(n, 0, 3))}
}
