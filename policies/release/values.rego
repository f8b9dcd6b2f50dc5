# METADATA
# title: Helm values rules per environment
# description: |
#   Checks the Helm values a release changes (input.subject.release.changes)
#   and any full values it carries (input.context.values) against the rules in
#   data.gatehouse.config.values_rules: required and forbidden keys, and per-key
#   type, enum, minimum/maximum, length and pattern, each rule optionally
#   limited to environments and workloads. The rules are evaluated by the
#   values-rules WebAssembly plugin (plugins/values-rules). No rules, no
#   findings.
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: high
package gatehouse.release.values

default rules := []

rules := r if {
	r := data.gatehouse.config.values_rules
	is_array(r)
}

result := gatehouse.plugin("values-rules", plugin_input, {"rules": rules}) if count(rules) > 0

# What the plugin reads of the action (not the rendered manifests).
plugin_input := {
	"kind": input.kind,
	"scope": object.get(input, "scope", {}),
	"subject": {"release": {"changes": object.get(input, ["subject", "release", "changes"], [])}},
	"context": {"values": object.get(input, ["context", "values"], null)},
}

deny contains v if some v in result.violations
