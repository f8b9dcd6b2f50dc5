#!/usr/bin/env python3
"""Writes the `gatehouse check` benchmark corpus: DIR/manifests/ with N Kubernetes manifests
(Deployments with two containers, every tenth one breaking some rules) and DIR/policy/main.rego
with 20 conftest-style rules (17 deny, 3 warn). Deterministic.

usage: make_check_corpus.py DIR [N]
"""
import json, os, sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
os.makedirs(f"{out}/manifests", exist_ok=True)
os.makedirs(f"{out}/policy", exist_ok=True)

for i in range(n):
    bad = i % 10 == 0
    container = lambda name, image: {
        "name": name,
        "image": image,
        "resources": {} if bad else {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"privileged": bad, "runAsNonRoot": not bad, "allowPrivilegeEscalation": bad,
                            "readOnlyRootFilesystem": not bad},
        "livenessProbe": None if bad else {"httpGet": {"path": "/healthz", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
        "ports": [{"containerPort": 8080}],
    }
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{i}", "namespace": "default" if bad else "shop",
                     "labels": {"app.kubernetes.io/name": f"app-{i}", **({} if bad else {"team": "shop"})}},
        "spec": {
            "replicas": 1 if bad else 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": f"app-{i}"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": f"app-{i}"}},
                "spec": {
                    "hostNetwork": bad,
                    "serviceAccountName": "default" if bad else f"app-{i}",
                    "containers": [container("app", f"registry.example/app-{i}:{'latest' if bad else '1.2.3'}"),
                                   container("proxy", "registry.example/proxy:1.22")],
                },
            },
        },
    }
    doc["spec"]["template"]["spec"]["containers"] = [
        {k: v for k, v in c.items() if v is not None} for c in doc["spec"]["template"]["spec"]["containers"]]
    with open(f"{out}/manifests/app-{i:04d}.json", "w") as f:
        json.dump(doc, f)

rules = {
    "deny_latest": 'some c in input.spec.template.spec.containers\n\tendswith(c.image, ":latest")\n\tmsg := sprintf("%s uses a latest image", [c.name])',
    "deny_no_tag": 'some c in input.spec.template.spec.containers\n\tnot contains(c.image, ":")\n\tmsg := sprintf("%s has no image tag", [c.name])',
    "deny_privileged": 'some c in input.spec.template.spec.containers\n\tc.securityContext.privileged\n\tmsg := sprintf("%s is privileged", [c.name])',
    "deny_escalation": 'some c in input.spec.template.spec.containers\n\tc.securityContext.allowPrivilegeEscalation\n\tmsg := sprintf("%s allows privilege escalation", [c.name])',
    "deny_root": 'some c in input.spec.template.spec.containers\n\tnot c.securityContext.runAsNonRoot\n\tmsg := sprintf("%s may run as root", [c.name])',
    "deny_cpu_limit": 'some c in input.spec.template.spec.containers\n\tnot c.resources.limits.cpu\n\tmsg := sprintf("%s has no cpu limit", [c.name])',
    "deny_memory_limit": 'some c in input.spec.template.spec.containers\n\tnot c.resources.limits.memory\n\tmsg := sprintf("%s has no memory limit", [c.name])',
    "deny_cpu_request": 'some c in input.spec.template.spec.containers\n\tnot c.resources.requests.cpu\n\tmsg := sprintf("%s has no cpu request", [c.name])',
    "deny_memory_request": 'some c in input.spec.template.spec.containers\n\tnot c.resources.requests.memory\n\tmsg := sprintf("%s has no memory request", [c.name])',
    "deny_liveness": 'some c in input.spec.template.spec.containers\n\tnot c.livenessProbe\n\tmsg := sprintf("%s has no liveness probe", [c.name])',
    "deny_readiness": 'some c in input.spec.template.spec.containers\n\tnot c.readinessProbe\n\tmsg := sprintf("%s has no readiness probe", [c.name])',
    "deny_host_network": 'input.spec.template.spec.hostNetwork\n\tmsg := "uses the host network"',
    "deny_default_namespace": 'input.metadata.namespace == "default"\n\tmsg := "is in the default namespace"',
    "deny_default_sa": 'input.spec.template.spec.serviceAccountName == "default"\n\tmsg := "uses the default service account"',
    "deny_replicas": 'input.kind == "Deployment"\n\tinput.spec.replicas < 2\n\tmsg := "needs at least 2 replicas"',
    "deny_name_label": 'not input.metadata.labels["app.kubernetes.io/name"]\n\tmsg := "has no app.kubernetes.io/name label"',
    "deny_selector": 'input.spec.selector.matchLabels["app.kubernetes.io/name"] != input.metadata.labels["app.kubernetes.io/name"]\n\tmsg := "selector does not match its labels"',
    "warn_team_label": 'not input.metadata.labels.team\n\tmsg := "has no team label"',
    "warn_readonly_fs": 'some c in input.spec.template.spec.containers\n\tnot c.securityContext.readOnlyRootFilesystem\n\tmsg := sprintf("%s has a writable root filesystem", [c.name])',
    "warn_ports": 'some c in input.spec.template.spec.containers\n\tcount(object.get(c, "ports", [])) == 0\n\tmsg := sprintf("%s declares no ports", [c.name])',
}
with open(f"{out}/policy/main.rego", "w") as f:
    f.write("package main\n\n")
    for name, body in rules.items():
        f.write(f"{name} contains msg if {{\n\t{body}\n}}\n\n")
