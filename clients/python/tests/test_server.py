"""The Python client against the real server: every RPC, the spread, the
compare-and-set conflict and watching with resume."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import grpc
import pytest
from grpc_status import rpc_status

import duckgrid_client as dg
from conftest import PRODUCT, REGION, running, wait_for

pb = dg.pb
Path_ = tuple[str, ...]


def dec(v: str) -> Decimal:
    """A cell value as a Decimal ("" is an empty cell, read as 0)."""
    return Decimal(v) if v else Decimal(0)


def fmt(v: Decimal | Fraction, scale: int) -> str:
    d = v if isinstance(v, Decimal) else Decimal(v.numerator) / Decimal(v.denominator)
    return str(d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP))


class Index:
    """A grid read by (path, column, measure)."""

    def __init__(self, grid: pb.Grid) -> None:
        self.grid = grid
        self.col = {c: i for i, c in enumerate(grid.columns)}
        self.rows = {tuple(r.path): r for r in grid.rows}

    def value(self, path: Sequence[str], column: str, measure: str) -> str:
        row = self.rows[tuple(path)]
        for mv in row.measures:
            if mv.measure == measure:
                return mv.values[self.col[column]]
        raise KeyError(measure)

    def children(self, path: Sequence[str]) -> list[Path_]:
        p = tuple(path)
        return [tuple(r.path) for r in self.grid.rows if len(r.path) == len(p) + 1 and tuple(r.path[: len(p)]) == p]


def get(stub: dg.pb_grpc.GridServiceStub, name: str, **kw: object) -> pb.Grid:
    grid: pb.Grid = stub.GetSheet(pb.GetSheetRequest(name=name, **kw)).grid  # type: ignore[arg-type]
    return grid


def update(stub: dg.pb_grpc.GridServiceStub, cell: pb.CellRef, value: str, actor: str = "py-test",
           **kw: object) -> pb.UpdateCellResponse:
    edit = pb.CellEdit(cell=cell, value=value, **kw)  # type: ignore[arg-type]
    resp: pb.UpdateCellResponse = stub.UpdateCell(pb.UpdateCellRequest(edit=edit), metadata=dg.actor_metadata(actor))
    return resp


def test_list_sheets(stub: dg.pb_grpc.GridServiceStub) -> None:
    resp = stub.ListSheets(pb.ListSheetsRequest())
    sheets = {s.name: s for s in resp.sheets}
    for name, levels in {PRODUCT: ["supplier", "brand", "family"], REGION: ["province", "city"]}.items():
        s = sheets[name]
        assert [lvl.name for lvl in s.row_levels] == levels
        assert all(lvl.member_count > 0 for lvl in s.row_levels)
        keys = [c.key for c in s.columns]
        assert len(keys) == 25 and keys[0] == "2024-01" and keys[23] == "2025-12" and keys[24] == dg.TOTAL_COLUMN
        assert s.columns[24].total and not s.columns[0].total
        assert (s.columns[2].period_start, s.columns[2].period_end) == ("2024-03-01", "2024-04-01")
        measures = {m.name: m for m in s.measures}
        assert measures["quantity"].scale == 0 and measures["quantity"].min_value == "0"
        assert measures["net_amount"].scale == 2
        assert s.row_count > 1

    paged: list[str] = []
    token = ""
    for _ in range(10):
        page = stub.ListSheets(pb.ListSheetsRequest(page_size=1, page_token=token))
        assert len(page.sheets) == 1
        paged.append(page.sheets[0].name)
        token = page.next_page_token
        if not token:
            break
    assert paged == [s.name for s in resp.sheets]


def check_grid(sheet: pb.Sheet, grid: pb.Grid) -> None:
    """Shape, formatting, and every aggregate == sum of its children, every total == sum of months."""
    keys = [c.key for c in sheet.columns]
    assert grid.sheet == sheet.name
    assert list(grid.columns) == keys
    assert len(grid.rows) == sheet.row_count
    assert list(grid.rows[0].path) == [], "first row is the grand total"
    depth = len(sheet.row_levels)
    scales = {m.name: m.scale for m in sheet.measures}
    ix = Index(grid)
    seen: set[Path_] = set()
    for row in grid.rows:
        path = tuple(row.path)
        assert row.leaf == (len(path) == depth), path
        if path:
            assert path[:-1] in seen, f"{path} precedes its parent"
        seen.add(path)
        assert len(row.measures) == len(sheet.measures)
        for mv in row.measures:
            scale = scales[mv.measure]
            pattern = re.compile(r"-?\d+" + (rf"\.\d{{{scale}}}" if scale else ""))
            assert len(mv.values) == len(keys)
            for v in mv.values:
                assert v == "" or pattern.fullmatch(v), f"{path} {mv.measure}: {v!r} is not a decimal with scale {scale}"
            assert dec(mv.values[-1]) == sum((dec(v) for v in mv.values[:-1]), Decimal(0)), \
                f"{sheet.name} {path} {mv.measure}: total != sum of months"
            if row.leaf:
                continue
            kids = ix.children(path)
            for i, col in enumerate(keys):
                vals = [ix.value(k, col, mv.measure) for k in kids]
                assert dec(mv.values[i]) == sum((dec(v) for v in vals), Decimal(0)), \
                    f"{sheet.name} {path} {mv.measure} {col} != sum of children"
                assert (mv.values[i] == "") == all(v == "" for v in vals), f"{path} {col}: empty iff all children empty"


def test_get_sheet(stub: dg.pb_grpc.GridServiceStub) -> None:
    for sheet in stub.ListSheets(pb.ListSheetsRequest()).sheets:
        check_grid(sheet, get(stub, sheet.name))

    full = get(stub, PRODUCT)
    top = list(dg.first_leaf(full).path[:1])
    narrow = get(stub, PRODUCT, row_path=top, columns=["2024-03", "total"], measures=["quantity"])
    assert list(narrow.columns) == ["2024-03", "total"]
    assert list(narrow.rows[0].path) == top
    fix = Index(full)
    for row in narrow.rows:
        assert list(row.path[:1]) == top
        assert [mv.measure for mv in row.measures] == ["quantity"]
        if narrow.revision == full.revision:
            for i, col in enumerate(narrow.columns):
                assert row.measures[0].values[i] == fix.value(row.path, col, "quantity")

    with pytest.raises(grpc.RpcError) as err:
        get(stub, "sheets/no_such_sheet")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_update_leaf(stub: dg.pb_grpc.GridServiceStub) -> None:
    before, region_before = get(stub, PRODUCT), get(stub, REGION)
    path = tuple(dg.first_leaf(before).path)
    col, m = "2024-03", "net_amount"
    bix = Index(before)
    old = bix.value(path, col, m)
    v = "4321.10" if old == "4321.09" else "4321.09"
    delta = dec(v) - dec(old)

    resp = update(stub, dg.cell(PRODUCT, path, col, m), v)
    assert resp.revision == before.revision + 1
    assert (resp.result.previous_value, resp.result.new_value) == (old, v)
    assert resp.result.facts_changed > 0
    changed = {(sc.sheet, tuple(c.row_path), c.column, c.measure): c.value for sc in resp.changes for c in sc.cells}
    assert changed[(PRODUCT, path, col, m)] == v
    assert (REGION, (), col, m) in changed, "one edit changes every sheet"

    after = get(stub, PRODUCT)
    aix = Index(after)
    assert aix.value(path, col, m) == v
    for depth in range(len(path), -1, -1):
        for c in (col, dg.TOTAL_COLUMN):
            assert dec(aix.value(path[:depth], c, m)) == dec(bix.value(path[:depth], c, m)) + delta, (path[:depth], c)
        assert changed[(PRODUCT, path[:depth], col, m)] == aix.value(path[:depth], col, m)
    region_after = get(stub, REGION)
    assert dec(Index(region_after).value((), col, m)) == dec(Index(region_before).value((), col, m)) + delta
    assert region_after.rows[0] == after.rows[0], "both sheets' grand totals agree"


def spread_target(grid: pb.Grid, depth: int, measure: str) -> tuple[Path_, str]:
    """The first row just above the leaves and month with >= 2 non-zero children."""
    ix = Index(grid)
    for row in grid.rows:
        if len(row.path) != depth - 1:
            continue
        for col in list(grid.columns)[:-1]:
            if sum(1 for k in ix.children(row.path) if dec(ix.value(k, col, measure)) != 0) >= 2:
                return tuple(row.path), col
    raise AssertionError(f"no subtotal with two non-zero children for {measure}")


def test_update_subtotal_spreads_proportionally(stub: dg.pb_grpc.GridServiceStub) -> None:
    # quantity: doubling is exact, so every child doubles exactly.
    before = get(stub, PRODUCT)
    parent, col = spread_target(before, 3, "quantity")
    bix = Index(before)
    v = str(2 * dec(bix.value(parent, col, "quantity")))
    assert update(stub, dg.cell(PRODUCT, parent, col, "quantity"), v).result.new_value == v
    aix = Index(get(stub, PRODUCT))
    assert aix.value(parent, col, "quantity") == v
    kids = bix.children(parent)
    for k in kids:
        assert dec(aix.value(k, col, "quantity")) == 2 * dec(bix.value(k, col, "quantity")), k
    assert sum((dec(aix.value(k, col, "quantity")) for k in kids), Decimal(0)) == dec(v)

    # net_amount: an awkward factor; exactly V, children sum to V, shares kept within rounding.
    before = get(stub, PRODUCT)
    parent, col = spread_target(before, 3, "net_amount")
    bix = Index(before)
    old = dec(bix.value(parent, col, "net_amount"))
    v = fmt(old * Decimal("1.37") + Decimal("0.01"), 2)
    resp = update(stub, dg.cell(PRODUCT, parent, col, "net_amount"), v)
    assert resp.result.new_value == v
    aix = Index(get(stub, PRODUCT))
    assert aix.value(parent, col, "net_amount") == v
    # Each fact is rounded by < 0.01, so a child is off its exact share by < (its facts) x 0.01.
    tol = Fraction(max(resp.result.facts_changed, 1), 100)
    total = Decimal(0)
    for k in bix.children(parent):
        b, a = dec(bix.value(k, col, "net_amount")), dec(aix.value(k, col, "net_amount"))
        total += a
        exact = Fraction(b) * Fraction(dec(v)) / Fraction(old)
        assert abs(Fraction(a) - exact) <= tol, f"child {k}: {b} -> {a}, exact share {fmt(exact, 4)}"
        if b == 0:
            assert a == 0, f"child {k} was zero and became {a}"
    assert total == dec(v), "children sum to exactly V"
    want_total = dec(bix.value(parent, dg.TOTAL_COLUMN, "net_amount")) + dec(v) - old
    assert dec(aix.value(parent, dg.TOTAL_COLUMN, "net_amount")) == want_total


def test_compare_and_set_conflict(stub: dg.pb_grpc.GridServiceStub) -> None:
    before = get(stub, PRODUCT)
    target = dg.cell(PRODUCT, dg.first_leaf(before).path, "2024-05", "quantity")
    cur = Index(before).value(target.row_path, target.column, target.measure)
    wrong, nxt = str(dec(cur) + 1), str(dec(cur) + 5)

    with pytest.raises(grpc.RpcError) as excinfo:
        update(stub, target, nxt, expected_value=wrong)
    err = excinfo.value
    assert isinstance(err, grpc.Call)
    assert err.code() == grpc.StatusCode.ABORTED
    info = dg.error_info(err)
    assert info is not None, "ABORTED without google.rpc.ErrorInfo in grpc-status-details-bin"
    assert (info.reason, info.domain) == (dg.REASON_EXPECTED_VALUE_MISMATCH, dg.ERROR_DOMAIN)
    assert dg.current_value(err) == cur
    # grpcio-status agrees: the rich status matches the call's code and message.
    status = rpc_status.from_call(err)
    assert status is not None and status.code == grpc.StatusCode.ABORTED.value[0]
    assert get(stub, PRODUCT).revision == before.revision, "a rejected write changes nothing"

    resp = update(stub, target, nxt, expected_value=cur)
    assert resp.result.new_value == nxt


def next_change(stream: Iterator[pb.WatchUpdatesResponse]) -> pb.ChangeEvent:
    for msg in stream:
        kind = msg.WhichOneof("kind")
        assert kind != "snapshot", "unexpected snapshot"
        if kind == "change":
            return msg.change
    raise AssertionError("stream ended")


def test_watch_snapshot_then_changes_and_resume(stub: dg.pb_grpc.GridServiceStub) -> None:
    leaf = tuple(dg.first_leaf(get(stub, PRODUCT)).path)

    def write(col: str, v: str) -> int:
        return update(stub, dg.cell(PRODUCT, leaf, col, "quantity"), v, actor="py-watch").revision

    call = stub.WatchUpdates(pb.WatchUpdatesRequest(sheet=PRODUCT, send_snapshot=True))
    first = next(call)
    assert first.WhichOneof("kind") == "snapshot"
    snap = first.snapshot
    local = dg.LocalGrid.from_proto(snap)
    now = get(stub, PRODUCT)
    if now.revision == snap.revision:
        assert local.diff(dg.LocalGrid.from_proto(now)) == []

    r1 = write("2024-06", "11")
    ev = next_change(call)
    assert ev.revision == snap.revision + 1 == r1
    assert ev.actor == "py-watch"
    assert len(ev.edits) == 1 and ev.edits[0].value == "11" and len(ev.results) == 1
    local.apply(ev)
    assert local.value(leaf, "2024-06", "quantity") == "11"

    call.cancel()  # drop the stream; two writes happen while nobody watches
    r2, r3 = write("2024-07", "12"), write("2024-08", "13")
    assert (r2, r3) == (r1 + 1, r1 + 2)

    call = stub.WatchUpdates(pb.WatchUpdatesRequest(sheet=PRODUCT, start_revision=r1 + 1))
    try:
        for want in (r2, r3):
            ev = next_change(call)
            assert ev.revision == want
            local.apply(ev)
        for msg in call:  # nothing else pending: next comes a heartbeat at head r3
            assert msg.WhichOneof("kind") != "change", f"extra change {msg.change.revision}"
            if msg.WhichOneof("kind") == "progress":
                assert msg.progress.head_revision == r3
                break
    finally:
        call.cancel()
    now = get(stub, PRODUCT)
    assert now.revision == r3
    assert local.diff(dg.LocalGrid.from_proto(now)) == []


def test_watcher_keeps_local_copy_across_drops(stub: dg.pb_grpc.GridServiceStub) -> None:
    leaf = tuple(dg.first_leaf(get(stub, PRODUCT)).path)
    watcher = dg.SheetWatcher(stub, PRODUCT, min_backoff=0.02)
    with running(watcher) as errors:
        wait_for("the snapshot", lambda: watcher.revision >= 0 or bool(errors))
        ra = update(stub, dg.cell(PRODUCT, leaf, "2025-01", "net_amount"), "100.00", actor="py-watcher").revision
        wait_for("revision A", lambda: watcher.revision >= ra or bool(errors))
        assert watcher.value(leaf, "2025-01", "net_amount") == "100.00"

        watcher.drop_stream()
        update(stub, dg.cell(PRODUCT, leaf[:1], "2025-02", "net_amount"), "5000.00", actor="py-watcher")
        rc = update(stub, dg.cell(PRODUCT, (), "2025-03", "quantity"), "9000", actor="py-watcher").revision
        wait_for("revision C", lambda: watcher.revision >= rc or bool(errors))
        assert not errors, errors
        assert watcher.diff(get(stub, PRODUCT)) == []
        assert watcher.reconnects >= 1
