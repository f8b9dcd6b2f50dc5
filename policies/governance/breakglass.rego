# METADATA
# title: Break-glass requests are justified, classified, scoped and time-boxed
# description: |
#   A breakglass.open action must carry, in input.subject.breakglass, a
#   justification of at least data.gatehouse.config.breakglass_min_justification
#   characters (default 20), a severity from data.gatehouse.config.breakglass_severities
#   (default P1, P2, P3, P4), a scope naming at least the environment, and a
#   duration_minutes between 1 and data.gatehouse.config.breakglass_max_minutes
#   (default 240).
# custom:
#   kinds: [breakglass.open]
#   severity: high
package gatehouse.governance.breakglass

default min_justification := 20

min_justification := n if {
	n := data.gatehouse.config.breakglass_min_justification
	is_number(n)
}

default severities := ["P1", "P2", "P3", "P4"]

severities := s if {
	s := data.gatehouse.config.breakglass_severities
	is_array(s)
	count(s) > 0
}

default max_minutes := 240

max_minutes := n if {
	n := data.gatehouse.config.breakglass_max_minutes
	is_number(n)
}

_opening if input.kind == "breakglass.open"

_request := r if {
	r := object.get(input, ["subject", "breakglass"], {})
	is_object(r)
} else := {}

_justification := trim_space(j) if {
	j := _request.justification
	is_string(j)
} else := ""

deny contains v if {
	_opening
	_justification == ""
	v := {
		"msg": sprintf("Break-glass sessions need a justification: describe the incident, its impact and what you will do (at least %v characters).", [min_justification]),
		"severity": "high",
		"details": {"field": "justification", "min_length": min_justification},
	}
}

deny contains v if {
	_opening
	_justification != ""
	count(_justification) < min_justification
	v := {
		"msg": sprintf("The break-glass justification has %d characters; at least %v are required. Describe the incident, its impact and what you will do.", [
			count(_justification),
			min_justification,
		]),
		"severity": "high",
		"details": {"field": "justification", "length": count(_justification), "min_length": min_justification},
	}
}

deny contains v if {
	_opening
	not _known_severity
	v := {
		"msg": _severity_msg,
		"severity": "high",
		"details": {"field": "severity", "allowed": severities},
	}
}

_known_severity if {
	s := _request.severity
	is_string(s)
	some known in severities
	is_string(known)
	upper(s) == upper(known)
}

_severity_list := concat(", ", [sprintf("%v", [s]) | some s in severities])

_severity_msg := sprintf("The break-glass severity '%v' is not one of %s; classify the incident with one of them.", [
	_request.severity,
	_severity_list,
]) if {
	not _request.severity in {null, ""}
} else := sprintf("Break-glass sessions need a severity: set severity to one of %s.", [_severity_list])

deny contains v if {
	_opening
	not _has_environment
	v := {
		"msg": "Break-glass sessions must be scoped: set scope.environment to the environment the emergency change targets (and scope.workload to narrow it further).",
		"severity": "high",
		"details": {"field": "scope.environment"},
	}
}

_has_environment if {
	e := _request.scope.environment
	is_string(e)
	trim_space(e) != ""
}

deny contains v if {
	_opening
	not _valid_duration
	v := {
		"msg": sprintf("Break-glass sessions must be time-boxed: set duration_minutes to a number of minutes between 1 and %v.", [max_minutes]),
		"severity": "high",
		"details": {"field": "duration_minutes", "value": object.get(_request, "duration_minutes", null), "max": max_minutes},
	}
}

deny contains v if {
	_opening
	d := _request.duration_minutes
	is_number(d)
	d > max_minutes
	v := {
		"msg": sprintf("The break-glass duration of %v minutes exceeds the maximum of %v minutes; request at most %v minutes and open a new session if the incident needs more time.", [
			d,
			max_minutes,
			max_minutes,
		]),
		"severity": "high",
		"details": {"field": "duration_minutes", "value": d, "max": max_minutes},
	}
}

_valid_duration if {
	d := _request.duration_minutes
	is_number(d)
	d > 0
}
