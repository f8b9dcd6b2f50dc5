#!/usr/bin/env python3
"""The evaluations `gatehouse check -p POLICY DIR` performs, done by OPA v1.20 in-process
through its Python bindings: load the policy once, then for every JSON document in DIR
evaluate the whole `main` package with the document as input. Prints the document count and
the time spent evaluating (excluding interpreter start-up and policy loading) as JSON.

usage: opa_check.py POLICY_DIR DOCS_DIR
"""
import json, os, sys, time

from opa_bindings import OpaEngine

policy_dir, docs_dir = sys.argv[1], sys.argv[2]
engine = OpaEngine()
for name in sorted(os.listdir(policy_dir)):
    if name.endswith(".rego"):
        engine.add_policy(name, open(os.path.join(policy_dir, name)).read())
docs = [json.load(open(os.path.join(docs_dir, n))) for n in sorted(os.listdir(docs_dir)) if n.endswith(".json")]
start = time.perf_counter()
failures = 0
for doc in docs:
    result = engine.eval_document("main", doc)
    failures += sum(len(v) for k, v in result.items() if k.startswith("deny"))
print(json.dumps({"documents": len(docs), "failures": failures, "eval_seconds": round(time.perf_counter() - start, 3)}))
