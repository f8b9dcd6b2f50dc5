# METADATA
# title: Container images must be pinned
# description: |
#   Every container image (init, regular and ephemeral) must name an immutable
#   version: a digest (image@sha256:...) or a tag that is not mutable. An image
#   without a tag resolves to :latest, so it is rejected too. A registry port is
#   not a tag: registry:5000/app has no tag. Mutable tags come from
#   data.gatehouse.config.disallowed_image_tags (default ["latest"]).
# custom:
#   kinds: [render, release.create, release.deploy, promotion]
#   input: action
#   severity: high
package gatehouse.k8s.image_tags

import data.gatehouse.lib.k8s
import data.gatehouse.lib.k8s.containers

# Tags that name no fixed version (compared case-insensitively).
default disallowed_tags := ["latest"]

disallowed_tags := t if {
	t := data.gatehouse.config.disallowed_image_tags
	is_array(t)
}

_disallowed := {lower(t) | some t in disallowed_tags; is_string(t)}

# OCI digest: algorithm ":" encoded, e.g. sha256:<64 hex digits>.
_digest_pattern := `@[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$`

deny contains violation if {
	some c in containers
	image := object.get(c.container, "image", "")
	not _pinned(image)
	problem := _problem(image)
	violation := {
		"msg": sprintf("%s: %s %s; %s", [k8s.title(c.workload), k8s.describe(c), problem.what, problem.fix]),
		"severity": "high",
		"object": c.ref,
		"details": {"container": c.name, "image": image, "reason": problem.reason},
	}
}

_problem(image) := {
	"reason": "no_image",
	"what": "has no image",
	"fix": "set an image pinned to a version tag or a digest.",
} if {
	not _nonempty_string(image)
} else := {
	"reason": "malformed_digest",
	"what": sprintf("image '%s' has a malformed digest", [image]),
	"fix": "use a full digest such as image@sha256:<64 hex digits>.",
} if {
	contains(image, "@")
	not regex.match(_digest_pattern, image)
} else := {
	"reason": "no_tag",
	"what": sprintf("image '%s' has no tag, so it resolves to :latest", [image]),
	"fix": sprintf("pin a version tag (%s:1.2.3) or a digest (%s@sha256:...).", [image, image]),
} if {
	not contains(image, "@")
	not _tag(image)
} else := {
	"reason": "mutable_tag",
	"what": sprintf("image '%s' uses the mutable tag '%s'", [image, _tag(image)]),
	"fix": sprintf("pin a version tag or a digest (%s@sha256:...).", [_repository(image)]),
} if {
	not contains(image, "@")
	lower(_tag(image)) in _disallowed
}

# The common, compliant cases in one call: a well-formed digest, or a tag that
# is not mutable.
_pinned(image) if {
	is_string(image)
	contains(image, "@")
	regex.match(_digest_pattern, image)
}

_pinned(image) if {
	is_string(image)
	not contains(image, "@")
	parts := split(image, ":")
	tag := parts[count(parts) - 1]
	count(parts) > 1
	tag != ""
	not contains(tag, "/")
	not lower(tag) in _disallowed
}

_nonempty_string(s) if {
	is_string(s)
	s != ""
}

# The tag of an image reference without a digest: the part after ":" in the
# last path segment (so registry:5000/app has none); undefined when absent or empty.
_tag(image) := tag if {
	segments := split(image, "/")
	last := segments[count(segments) - 1]
	parts := split(last, ":")
	count(parts) == 2
	tag := parts[1]
	tag != ""
}

# The image reference without its tag.
_repository(image) := trim_suffix(image, concat("", [":", _tag(image)]))
