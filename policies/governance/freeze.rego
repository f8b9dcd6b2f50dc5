# METADATA
# title: Freeze windows block changes
# description: |
#   For release.create, release.deploy, promotion, rollback and command actions,
#   the freeze windows in input.facts.freezes whose scope matches the action are
#   checked at input.time. A window is one-off (start <= time < end), weekly
#   recurring (days, HH:MM start and end, IANA timezone; a start after the end
#   runs overnight) or scheduled (a cron expression or an RFC 5545 RRULE for
#   the start of each occurrence, a duration and a timezone). Windows with
#   effect "deny" block while active; when windows with effect "allow" exist for
#   a scope, changes there need one of them to be active. Deny beats allow. A
#   live break-glass session of the actor that covers a scope exempts it. A
#   malformed deny window blocks until it is fixed. The windows are evaluated
#   by the freeze-windows WebAssembly plugin (plugins/freeze-windows).
# custom:
#   kinds: [release.create, release.deploy, promotion, rollback, command]
#   severity: high
package gatehouse.governance.freeze

# Action kinds freezes apply to.
governed_kinds := {"release.create", "release.deploy", "promotion", "rollback", "command"}

# The freeze-windows plugin reads facts.freezes, facts.breakglass, the scopes the
# action touches and its time, and answers with the violations. It is handed only
# those fields: an action can carry hundreds of kilobytes of manifests, which the
# plugin would otherwise have to parse within its time budget.
result := gatehouse.plugin("freeze-windows", plugin_input, {}) if input.kind in governed_kinds

# What the plugin reads of the action.
plugin_input := {
	"kind": input.kind,
	"time": object.get(input, "time", null),
	"actor": object.get(input, "actor", {}),
	"scope": object.get(input, "scope", {}),
	"subject": {"release": {"changes": object.get(input, ["subject", "release", "changes"], [])}},
	"facts": {
		"freezes": object.get(input, ["facts", "freezes"], []),
		"breakglass": object.get(input, ["facts", "breakglass"], []),
	},
}

deny contains v if {
	input.kind in governed_kinds
	some v in result.violations
}
