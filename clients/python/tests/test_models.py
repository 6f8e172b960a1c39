"""The client against servers of the example models (examples/budget and
examples/retail, served with --model): column kinds with quarter and year
subtotals, levels of two dimensions, filters, captions, ragged rows, and a
watched copy of a sheet with quarter columns after a write to a quarter."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

import duckgrid_client as dg
from conftest import Server
from conftest import wait_for
from test_server import Index, dec, get, update

pb = dg.pb

BY_ACCOUNT = "sheets/budget_by_account"
BY_COST_CENTRE = "sheets/budget_by_cost_centre"
DEPARTMENTS = "sheets/departments_by_account_group"
BY_STORE = "sheets/revenue_by_store"
CATEGORIES = "sheets/categories_by_region"
ONLINE = "sheets/online_by_product"


def sheets_by_name(stub: dg.pb_grpc.GridServiceStub) -> dict[str, pb.Sheet]:
    return {s.name: s for s in dg.list_sheets(stub)}


def test_budget_column_kinds(budget: dg.pb_grpc.GridServiceStub) -> None:
    sheets = sheets_by_name(budget)
    assert list(sheets) == [BY_ACCOUNT, BY_COST_CENTRE, DEPARTMENTS], "model order"
    s = sheets[BY_ACCOUNT]
    cols = {c.key: c for c in s.columns}
    keys = [c.key for c in s.columns]
    # Each quarter after its months, each year after its last quarter, the total last.
    assert keys[:5] == ["2025-01", "2025-02", "2025-03", "2025-Q1", "2025-04"]
    assert keys[keys.index("2025-12"):keys.index("2026-01")] == ["2025-12", "2025-Q4", "2025"]
    assert keys[-3:] == ["2026-Q4", "2026", dg.TOTAL_COLUMN]
    assert len(keys) == 24 + 8 + 2 + 1

    q1 = cols["2025-Q1"]
    assert q1.kind == pb.COLUMN_KIND_QUARTER and not q1.total
    assert (q1.period_start, q1.period_end) == ("2025-01-01", "2025-04-01")
    year = cols["2025"]
    assert year.kind == pb.COLUMN_KIND_YEAR and not year.total
    assert (year.period_start, year.period_end) == ("2025-01-01", "2026-01-01")
    total = s.columns[-1]
    assert total.key == dg.TOTAL_COLUMN and total.kind == pb.COLUMN_KIND_TOTAL and total.total
    assert (total.period_start, total.period_end) == ("2025-01-01", "2027-01-01")
    assert [c.key for c in s.columns if c.kind == pb.COLUMN_KIND_TOTAL or c.total] == [dg.TOTAL_COLUMN]
    assert cols["2025-03"].kind == pb.COLUMN_KIND_MONTH
    assert all(c.kind != pb.COLUMN_KIND_UNSPECIFIED for c in s.columns)
    assert dg.month_columns(s) == [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]
    assert dg.first_month_column(s) == "2025-01"
    assert [c.key for c in s.columns if c.kind == pb.COLUMN_KIND_QUARTER] == [
        f"{y}-Q{q}" for y in (2025, 2026) for q in range(1, 5)
    ]

    # Years only: no quarter columns.
    d = sheets[DEPARTMENTS]
    kinds = [c.kind for c in d.columns]
    assert pb.COLUMN_KIND_QUARTER not in kinds
    assert [c.key for c in d.columns if c.kind == pb.COLUMN_KIND_YEAR] == ["2025", "2026"]
    assert d.columns[-1].kind == pb.COLUMN_KIND_TOTAL


def test_budget_level_dimensions(budget: dg.pb_grpc.GridServiceStub) -> None:
    sheets = sheets_by_name(budget)
    levels = {name: [(lvl.dimension, lvl.name) for lvl in s.row_levels] for name, s in sheets.items()}
    assert levels[DEPARTMENTS] == [
        ("cost_centre", "division"), ("cost_centre", "department"), ("account", "group"),
    ]
    assert levels[BY_ACCOUNT] == [("account", "group"), ("account", "account")]
    assert levels[BY_COST_CENTRE] == [
        ("cost_centre", "division"), ("cost_centre", "department"), ("cost_centre", "cost_centre"),
    ]
    assert all(lvl.member_count > 0 for s in sheets.values() for lvl in s.row_levels)
    assert [m.name for m in sheets[DEPARTMENTS].measures] == ["amount"]
    assert [(m.name, m.scale) for m in sheets[BY_ACCOUNT].measures] == [("amount", 2), ("headcount", 1)]
    assert all(len(s.filters) == 0 for s in sheets.values())

    # Rows nest the second dimension: division > department > account group.
    grid = get(budget, DEPARTMENTS)
    depth3 = [tuple(r.path) for r in grid.rows if len(r.path) == 3]
    assert depth3 and all(r.leaf for r in grid.rows if len(r.path) == 3)
    assert any(p[2] == "Personnel" for p in depth3)


def test_retail_filters(retail: dg.pb_grpc.GridServiceStub) -> None:
    sheets = sheets_by_name(retail)
    assert list(sheets) == [BY_STORE, CATEGORIES, ONLINE]
    online = sheets[ONLINE]
    assert [(f.dimension, list(f.member)) for f in online.filters] == [("channel", ["Online"])]
    assert len(sheets[BY_STORE].filters) == 0 and len(sheets[CATEGORIES].filters) == 0
    assert [lvl.dimension for lvl in sheets[CATEGORIES].row_levels] == ["store", "product"]


def test_retail_captions_and_ragged_rows(retail: dg.pb_grpc.GridServiceStub) -> None:
    grid = get(retail, BY_STORE)
    rows = {tuple(r.path): r for r in grid.rows}
    web = rows[("Online", "Web shop")]
    assert web.caption == "00099", "codes keep their leading zeros"
    # Ragged: the web shop has no district, so it is a leaf one level up.
    assert web.leaf and len(grid.rows[0].path) == 0
    assert rows[("North", "Harbour", "Harbour Street")].caption == "00011"
    assert rows[("Online",)].caption == "" and rows[()].caption == ""
    local = dg.LocalGrid.from_proto(grid)
    assert local.caption(["Online", "Web shop"]) == "00099"
    assert local.caption(["Online"]) == ""
    assert local.value(["Online", "Web shop"], dg.TOTAL_COLUMN, "revenue") == Index(grid).value(
        ("Online", "Web shop"), dg.TOTAL_COLUMN, "revenue")


def check_model_grid(sheet: pb.Sheet, grid: pb.Grid) -> None:
    """Any sheet: shape, formatting, every subtotal column == the sum of the
    months in its period, every aggregate row == the sum of its children
    (leaves may be at any depth)."""
    keys = [c.key for c in sheet.columns]
    assert grid.sheet == sheet.name
    assert list(grid.columns) == keys
    assert len(grid.rows) == sheet.row_count
    assert list(grid.rows[0].path) == []
    months = [i for i, c in enumerate(sheet.columns) if c.kind == pb.COLUMN_KIND_MONTH]
    covers = {
        i: [j for j in months
            if sheet.columns[j].period_start >= c.period_start and sheet.columns[j].period_end <= c.period_end]
        for i, c in enumerate(sheet.columns) if c.kind != pb.COLUMN_KIND_MONTH
    }
    scales = {m.name: m.scale for m in sheet.measures}
    ix = Index(grid)
    paths = [tuple(r.path) for r in grid.rows]
    seen: set[tuple[str, ...]] = set()
    for row in grid.rows:
        path = tuple(row.path)
        assert len(path) <= len(sheet.row_levels)
        if path:
            assert path[:-1] in seen, f"{path} precedes its parent"
        seen.add(path)
        kids = ix.children(path)
        assert row.leaf == (not kids), f"{sheet.name} {path}: leaf={row.leaf} with {len(kids)} children"
        for mv in row.measures:
            scale = scales[mv.measure]
            pattern = re.compile(r"-?\d+" + (rf"\.\d{{{scale}}}" if scale else ""))
            assert len(mv.values) == len(keys)
            for v in mv.values:
                assert v == "" or pattern.fullmatch(v), f"{path} {mv.measure}: {v!r}"
            for i, js in covers.items():
                want = sum((dec(mv.values[j]) for j in js), Decimal(0))
                assert dec(mv.values[i]) == want, f"{sheet.name} {path} {mv.measure} {keys[i]} != sum of its months"
            for i, col in enumerate(keys):
                if kids:
                    vals = [ix.value(k, col, mv.measure) for k in kids]
                    assert dec(mv.values[i]) == sum((dec(v) for v in vals), Decimal(0)), \
                        f"{sheet.name} {path} {mv.measure} {col} != sum of children"
    assert len(set(paths)) == len(paths)


@pytest.mark.parametrize("model", ["budget", "retail"])
def test_model_grids_add_up(model: str, request: pytest.FixtureRequest) -> None:
    stub: dg.pb_grpc.GridServiceStub = request.getfixturevalue(model)
    for sheet in dg.list_sheets(stub):
        check_model_grid(sheet, get(stub, sheet.name))


@pytest.fixture
def watchers(budget: dg.pb_grpc.GridServiceStub) -> Iterator[dict[str, dg.SheetWatcher]]:
    """Running watchers of the budget's account and department sheets."""
    ws = {name: dg.SheetWatcher(budget, name, min_backoff=0.02) for name in (BY_ACCOUNT, DEPARTMENTS)}
    errors: list[BaseException] = []

    def run(w: dg.SheetWatcher) -> None:
        try:
            w.run()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in ws.values()]
    for t in threads:
        t.start()
    try:
        for w in ws.values():
            wait_for(f"the snapshot of {w.sheet}", lambda: w.revision >= 0 or bool(errors))
        yield ws
    finally:
        for w in ws.values():
            w.stop()
        for t in threads:
            t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_watcher_after_a_quarter_write(budget: dg.pb_grpc.GridServiceStub,
                                       watchers: dict[str, dg.SheetWatcher]) -> None:
    before = Index(get(budget, BY_ACCOUNT))
    path, col, m, v = ("Personnel",), "2025-Q1", "amount", "-123456.78"
    leaf = next(k for k in before.children(path) if before.rows[k].caption)

    resp = update(budget, dg.cell(BY_ACCOUNT, path, col, m), v, actor="py-models")
    assert resp.result.new_value == v
    assert resp.result.facts_changed > 0
    changed = {(sc.sheet, tuple(c.row_path), c.column, c.measure): c.value for sc in resp.changes for c in sc.cells}
    assert changed[(BY_ACCOUNT, path, col, m)] == v
    for c in ("2025", dg.TOTAL_COLUMN):
        assert (BY_ACCOUNT, path, c, m) in changed and (BY_ACCOUNT, (), c, m) in changed
    assert any(k[0] == DEPARTMENTS for k in changed), "the write shows on the two-dimension sheet"

    for name, w in watchers.items():
        wait_for(f"{name} at revision {resp.revision}", lambda: w.revision >= resp.revision)
        now = get(budget, name)
        assert w.diff(now) == [], f"{name}: the watched copy differs from GetSheet at {now.revision}"
    w = watchers[BY_ACCOUNT]
    assert w.value(path, col, m) == v
    assert w.caption(leaf) == before.rows[leaf].caption != ""

    # The quarter's value is spread over its months; the year and total follow.
    after = Index(get(budget, BY_ACCOUNT))
    q1 = ["2025-01", "2025-02", "2025-03"]
    assert sum((dec(after.value(path, c, m)) for c in q1), Decimal(0)) == dec(v)
    delta = dec(v) - dec(before.value(path, col, m))
    for c in ("2025", dg.TOTAL_COLUMN):
        assert dec(after.value(path, c, m)) == dec(before.value(path, c, m)) + delta
        assert dec(after.value((), c, m)) == dec(before.value((), c, m)) + delta
    for c in ("2025-04", "2026-Q1"):
        assert after.value(path, c, m) == before.value(path, c, m), f"{c} is outside the quarter"


def test_examples_default_to_the_first_sheet(budget_server: Server, budget: dg.pb_grpc.GridServiceStub) -> None:
    """Without --sheet, --measure and --column the examples pick the first
    sheet, its first measure and its first month: they run against any model."""
    sheet = dg.list_sheets(budget)[0]
    watch = subprocess.Popen(
        [sys.executable, "-m", "duckgrid_client.examples.watch", "--addr", budget_server.addr, "--changes", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.startswith(f"snapshot {sheet.name} at revision "), first
        grid = get(budget, sheet.name)
        leaf = dg.format_path(dg.first_leaf(grid).path)

        out = subprocess.run(
            [sys.executable, "-m", "duckgrid_client.examples.update", "--addr", budget_server.addr,
             "--value", "321.00", "--actor", "py-example-model"],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f'revision {grid.revision + 1}: [{leaf}] 2025-01 amount: '), out.stdout
        assert '-> "321.00"' in out.stdout, out.stdout

        rest, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert rest.startswith(f'revision {grid.revision + 1} by "py-example-model"'), rest
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()

    # The flags still choose: a quarter column of another sheet.
    out = subprocess.run(
        [sys.executable, "-m", "duckgrid_client.examples.update", "--addr", budget_server.addr,
         "--sheet", BY_COST_CENTRE, "--column", "2026-Q2", "--measure", "headcount", "--value", "12.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '2026-Q2 headcount: ' in out.stdout and '-> "12.5"' in out.stdout, out.stdout
