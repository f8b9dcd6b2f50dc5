package gatehouse.k8s.image_tags_test

import data.gatehouse.k8s.image_tags

_digest := "sha256:4c1e1bb9b7a5e8c5f1d0c8a1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b"

_pod(images) := {
	"kind": "Pod",
	"metadata": {"name": "web", "namespace": "shop"},
	"spec": {"containers": [{"name": sprintf("c%d", [i]), "image": img} | some i, img in images]},
}

_action(manifests) := {"version": 1, "kind": "release.deploy", "subject": {"manifests": manifests}}

_reasons(images) := reasons if {
	results := image_tags.deny with input as _action([_pod(images)])
	reasons := [r.details.reason | some r in results]
}

test_latest_tag_is_denied if {
	results := image_tags.deny with input as _action([_pod(["nginx:latest"])])
	count(results) == 1
	some r in results
	r.msg == "Pod shop/web: container 'c0' image 'nginx:latest' uses the mutable tag 'latest'; pin a version tag or a digest (nginx@sha256:...)."
	r.object == "Pod/shop/web"
	r.details.reason == "mutable_tag"
}

test_latest_tag_is_case_insensitive if {
	_reasons(["nginx:LATEST"]) == ["mutable_tag"]
}

test_missing_tag_is_denied if {
	results := image_tags.deny with input as _action([_pod(["ghcr.io/acme/api"])])
	some r in results
	r.msg == "Pod shop/web: container 'c0' image 'ghcr.io/acme/api' has no tag, so it resolves to :latest; pin a version tag (ghcr.io/acme/api:1.2.3) or a digest (ghcr.io/acme/api@sha256:...)."
}

test_version_tag_is_allowed if {
	_reasons(["nginx:1.27.2", "ghcr.io/acme/api:v1.5.0", "docker.io/library/redis:7.4-alpine"]) == []
}

test_digest_is_pinned if {
	_reasons([concat("@", ["ghcr.io/acme/api", _digest])]) == []
}

test_latest_with_digest_is_pinned if {
	_reasons([concat("@", ["ghcr.io/acme/api:latest", _digest])]) == []
}

test_malformed_digest_is_denied if {
	_reasons(["ghcr.io/acme/api@sha256:abc"]) == ["malformed_digest"]
}

test_registry_port_is_not_a_tag if {
	_reasons(["registry.acme.internal:5000/payments/api"]) == ["no_tag"]
}

test_registry_port_with_tag_is_allowed if {
	_reasons(["registry.acme.internal:5000/payments/api:2.0.1"]) == []
}

test_registry_port_with_latest_is_denied if {
	results := image_tags.deny with input as _action([_pod(["localhost:5000/app:latest"])])
	some r in results
	r.details.reason == "mutable_tag"
	r.msg == "Pod shop/web: container 'c0' image 'localhost:5000/app:latest' uses the mutable tag 'latest'; pin a version tag or a digest (localhost:5000/app@sha256:...)."
}

test_empty_tag_counts_as_missing if {
	_reasons(["nginx:"]) == ["no_tag"]
}

test_missing_image_is_denied if {
	pod := {"kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "app"}]}}
	results := image_tags.deny with input as _action([pod])
	some r in results
	r.msg == "Pod default/web: container 'app' has no image; set an image pinned to a version tag or a digest."
}

test_init_and_ephemeral_containers_are_checked if {
	pod := {"kind": "Pod", "metadata": {"name": "web"}, "spec": {
		"initContainers": [{"name": "init", "image": "busybox"}],
		"containers": [{"name": "app", "image": "nginx:1.27"}],
		"ephemeralContainers": [{"name": "debug", "image": "busybox:latest"}],
	}}
	results := image_tags.deny with input as _action([pod])
	{r.msg | some r in results} == {
		"Pod default/web: init container 'init' image 'busybox' has no tag, so it resolves to :latest; pin a version tag (busybox:1.2.3) or a digest (busybox@sha256:...).",
		"Pod default/web: ephemeral container 'debug' image 'busybox:latest' uses the mutable tag 'latest'; pin a version tag or a digest (busybox@sha256:...).",
	}
}

test_cronjob_images_are_checked if {
	cj := {"kind": "CronJob", "metadata": {"name": "report", "namespace": "batch"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "run", "image": "acme/report"}]}}}}}}
	results := image_tags.deny with input as _action([cj])
	some r in results
	r.object == "CronJob/batch/report"
}

test_configured_disallowed_tags if {
	results := image_tags.deny with input as _action([_pod(["nginx:stable", "nginx:latest", "nginx:1.27"])])
		with data.gatehouse.config.disallowed_image_tags as ["latest", "stable", "main"]
	{r.details.image | some r in results} == {"nginx:stable", "nginx:latest"}
}

test_no_manifests_no_findings if {
	count(image_tags.deny) == 0 with input as {"version": 1, "kind": "release.deploy"}
}
