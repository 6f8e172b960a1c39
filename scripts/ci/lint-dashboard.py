#!/usr/bin/env python3
"""Lints the Grafana dashboard against the metrics duckgrid documents.

  scripts/ci/lint-dashboard.py deploy/grafana/duckgrid.json docs/METRICS.md

Fails when the JSON is not a dashboard (title, uid, panels with ids, grid
positions and a Prometheus data source), when a panel queries a metric that
docs/METRICS.md does not document (a renamed metric leaves a dead panel), or
when a documented metric has no panel.
"""
import json
import re
import sys

SUFFIXES = ("_bucket", "_sum", "_count")
METRIC = re.compile(r"\b((?:grpc_server|duckgrid)_[a-z_]+)")


def base(name):
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def main(dashboard_path, docs_path):
    problems = []
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    with open(docs_path, encoding="utf-8") as f:
        documented = {m for m in METRIC.findall(f.read())}
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dashboard:
            problems.append(f"the dashboard has no {key!r}")
    used, ids = set(), set()
    for panel in dashboard.get("panels", []):
        title = panel.get("title") or f"panel {panel.get('id')}"
        if panel.get("id") in ids:
            problems.append(f"{title}: id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        if "gridPos" not in panel:
            problems.append(f"{title}: no gridPos")
        if panel.get("type") == "row":
            continue
        if panel.get("datasource", {}).get("type") != "prometheus":
            problems.append(f"{title}: not a Prometheus panel")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{title}: no queries")
        for target in targets:
            expr = target.get("expr", "")
            if expr.count("(") != expr.count(")"):
                problems.append(f"{title}: unbalanced parentheses in {expr}")
            for name in METRIC.findall(expr):
                used.add(base(name))
                if base(name) not in documented:
                    problems.append(f"{title}: {name} is not in {docs_path}")
    for name in sorted(documented - used):
        problems.append(f"{name} is documented but no panel shows it")
    for problem in problems:
        print(f"{dashboard_path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"dashboard: {len(ids)} panels over {len(used)} metrics, all documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
