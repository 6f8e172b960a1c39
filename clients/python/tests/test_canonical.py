"""The edit script shared by the three client suites (clients/README.md,
"Cross-client check"), applied to a fresh server (seed 7, 5000 facts); the
canonical dump goes to $DUCKGRID_CANONICAL_OUT and scripts/test-clients.sh
diffs the three suites' dumps."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import duckgrid_client as dg
from conftest import PRODUCT, REGION, start_server

pb = dg.pb
SET, ADD, PERCENT = pb.UPDATE_MODE_SET, pb.UPDATE_MODE_ADD, pb.UPDATE_MODE_PERCENT
PROP, EQUAL = pb.SPREAD_METHOD_UNSPECIFIED, pb.SPREAD_METHOD_EQUAL


def test_canonical_edit_script(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        with dg.connect(server.addr) as channel:
            lines = run_script(dg.pb_grpc.GridServiceStub(channel))
    finally:
        server.stop()
    out = os.environ.get("DUCKGRID_CANONICAL_OUT") or str(tmp_path / "canonical-python.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"canonical dump: {out} ({len(lines)} lines)")


def run_script(stub: dg.pb_grpc.GridServiceStub) -> list[list[object]]:
    md = dg.actor_metadata("canonical")
    leaf = list(dg.first_leaf(stub.GetSheet(pb.GetSheetRequest(name=PRODUCT)).grid).path)
    rleaf = list(dg.first_leaf(stub.GetSheet(pb.GetSheetRequest(name=REGION)).grid).path)
    parent, top = leaf[:-1], leaf[:1]

    def edit(sheet: str, path: list[str], col: str, m: str, v: str, mode: int = SET, spread: int = PROP) -> pb.CellEdit:
        return pb.CellEdit(cell=dg.cell(sheet, path, col, m), value=v, mode=mode, spread=spread)  # type: ignore[arg-type]

    steps = [
        [edit(PRODUCT, leaf, "2024-01", "net_amount", "1234.56")],
        [edit(PRODUCT, parent, "2024-02", "quantity", "1000")],
        [edit(PRODUCT, parent, "total", "net_amount", "99999.99")],
        [edit(PRODUCT, top, "2025-06", "quantity", "7", ADD)],
        [edit(PRODUCT, [], "2024-12", "net_amount", "10", PERCENT)],
        [edit(REGION, rleaf, "2025-01", "quantity", "42")],
        [edit(PRODUCT, parent, "2024-05", "net_amount", "777.77", SET, EQUAL)],
        [edit(PRODUCT, parent, "2024-04", "net_amount", "500.00"), edit(PRODUCT, leaf, "2024-04", "quantity", "3")],
    ]
    lines: list[list[object]] = []
    for i, edits in enumerate(steps, start=1):
        if len(edits) == 1:
            resp = stub.UpdateCell(pb.UpdateCellRequest(edit=edits[0]), metadata=md)
            rev, results = resp.revision, [resp.result]
        else:
            batch = stub.BatchUpdateCells(pb.BatchUpdateCellsRequest(edits=edits), metadata=md)
            rev, results = batch.revision, list(batch.results)
        assert rev == i, f"step {i} committed as revision {rev} on a fresh server"
        for r in results:
            lines.append(["edit", i, rev, r.previous_value, r.new_value, r.facts_changed])
    for sheet in stub.ListSheets(pb.ListSheetsRequest()).sheets:
        grid = stub.GetSheet(pb.GetSheetRequest(name=sheet.name)).grid
        lines.append(["sheet", grid.sheet, grid.revision, list(grid.columns)])
        for row in grid.rows:
            for mv in row.measures:
                lines.append(["row", grid.sheet, mv.measure, list(row.path), row.leaf, list(mv.values)])
    return lines
