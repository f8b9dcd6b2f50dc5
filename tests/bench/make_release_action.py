#!/usr/bin/env python3
"""Writes the benchmark action: a production release.deploy with N rendered manifests.

The release touches 25 workloads (a Deployment with two containers, a Service and a ConfigMap
would be 75 objects; we keep exactly N objects: Deployments and Services alternating, every
Deployment with an app container and a sidecar), approvals that satisfy a two-team quorum,
an inactive freeze, and the currently deployed state of the same objects (so the
environment-variable check compares 2 x N objects). Deterministic: same N, same bytes.

usage: make_release_action.py [N] > action.json
"""
import json
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50


def container(name, image, env):
    return {
        "name": name,
        "image": image,
        "env": [{"name": k, "value": v} for k, v in env],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }


def labels(app):
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": f"{app}-tenant-a", "app.kubernetes.io/part-of": "shop",
            "app.kubernetes.io/managed-by": "gatehouse"}


def deployment(i, tag):
    app = f"svc-{i:02d}"
    env = [("LOG_LEVEL", "info"), ("CACHE_ENDPOINT", "redis:6379"), ("DB_HOST", f"db-{i}")]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": "shop", "labels": labels(app)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
            "template": {
                "metadata": {"labels": labels(app)},
                "spec": {
                    "containers": [
                        container("app", f"registry.example/shop/{app}:{tag}", env),
                        container("proxy", "registry.example/mesh/proxy:1.22.3", [("MODE", "sidecar")]),
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": app}}],
                },
            },
        },
    }


def service(i):
    app = f"svc-{i:02d}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app, "namespace": "shop", "labels": labels(app)},
        "spec": {"selector": {"app.kubernetes.io/name": app}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def manifests(tag):
    out = []
    for i in range(n):
        out.append(deployment(i // 2, tag) if i % 2 == 0 else service(i // 2))
    return out


action = {
    "version": 1,
    "kind": "release.deploy",
    "id": "bench-1",
    "time": "2026-11-18T10:00:00Z",
    "actor": {"id": "u-alice", "kind": "user", "name": "alice", "role": "member", "teams": ["backend"]},
    "scope": {"org": "acme", "project": "shop", "environment": "production", "tenant": "tenant-a",
              "cluster": {"name": "prod-eu-1", "labels": {"tier": "production", "region": "eu-west-1"}}},
    "subject": {
        "release": {"id": "rel-2848", "title": "Roll out 1.5.0", "state": "approved",
                    "requester": {"id": "u-alice", "teams": ["backend"]},
                    "changes": [{"workload": f"svc-{i:02d}", "environment": "production", "path": "image.tag",
                                 "before": "1.4.0", "after": "1.5.0"} for i in range((n + 1) // 2)]},
        "manifests": manifests("1.5.0"),
    },
    "facts": {
        "approvals": [
            {"actor": {"id": "u-bob", "kind": "user", "role": "member", "teams": ["sre"]}, "at": "2026-11-18T09:00:00Z"},
            {"actor": {"id": "u-carol", "kind": "user", "role": "member", "teams": ["platform"]}, "at": "2026-11-18T09:10:00Z"},
        ],
        "approval_policies": [{"name": "prod-two-teams", "scope": {"environment": ["production"]}, "quorum": 2,
                               "distinct_teams": 2, "requester_can_approve": False,
                               "eligible": {"teams": ["sre", "platform", "backend"]}}],
        "freezes": [{"name": "year-end", "reason": "Year-end change freeze", "effect": "deny",
                     "scope": {"environment": ["production"]},
                     "start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z"}],
        "breakglass": [],
        "deployed": {"release": "rel-2847", "manifests": manifests("1.4.0")},
    },
}
json.dump(action, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
