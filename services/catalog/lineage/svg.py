"""The lineage as a picture: assets as boxes, runs as ellipses, left to right from inputs to
outputs, drawn by Graphviz's `dot` (the Debian package `graphviz`)."""

from __future__ import annotations

import shutil
from typing import Any

import graphviz

from libs.common.errors import ServiceUnavailable


def render(start: str, names: dict[str, str], graph: dict[str, Any]) -> bytes:
    """SVG of `graph` (service.lineage's reply); `names`: asset id to the label shown."""
    if shutil.which("dot") is None:
        raise ServiceUnavailable("Graphviz is not installed on this host: apt install graphviz")
    dot = graphviz.Digraph("lineage", graph_attr={"rankdir": "LR", "fontname": "Helvetica"},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "10"})  # fmt: skip
    for asset_id, label in names.items():
        style = {"style": "filled", "fillcolor": "#dbeafe"} if asset_id == start else {}
        dot.node(f"a{asset_id}", label, shape="box", **style)
    for run in graph["runs"]:
        when = run["ended_at"] or run["started_at"]
        stamp = when.strftime("%Y-%m-%d %H:%M") if when else ""
        colour = {"COMPLETE": "#dcfce7", "FAIL": "#fee2e2"}.get(run["state"], "#fef9c3")
        dot.node(f"r{run['run_id']}", f"{run['job']}\n{run['state']} {stamp}", shape="ellipse",
                 style="filled", fillcolor=colour)  # fmt: skip
    for edge in graph["edges"]:
        label = "" if edge["version"] is None else f"v{edge['version']}"
        asset, run = f"a{edge['asset_id']}", f"r{edge['run_id']}"
        pair = (asset, run) if edge["direction"] == "input" else (run, asset)
        dot.edge(*pair, label=label)
    return bytes(dot.pipe(format="svg"))
