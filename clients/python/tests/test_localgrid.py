"""LocalGrid without a server."""

from __future__ import annotations

import pytest

import duckgrid_client as dg

pb = dg.pb


def sample() -> pb.Grid:
    def mv(m: str, *vs: str) -> pb.MeasureValues:
        return pb.MeasureValues(measure=m, values=list(vs))

    return pb.Grid(
        sheet="sheets/s", revision=4, columns=["2024-01", "total"],
        rows=[
            pb.Row(path=[], measures=[mv("quantity", "3", "3")]),
            pb.Row(path=["A"], leaf=True, caption="00042", measures=[mv("quantity", "3", "3")]),
            pb.Row(path=["B"], leaf=True, measures=[mv("quantity", "", "")]),
        ],
    )


def test_applies_changes_in_order() -> None:
    local = dg.LocalGrid.from_proto(sample())
    assert local.value(["B"], "total", "quantity") == ""
    assert local.value(["C"], "total", "quantity") is None
    event = pb.ChangeEvent(revision=5, changes=[
        pb.SheetChanges(sheet="sheets/other", cells=[pb.CellChange(row_path=["A"], column="total", measure="quantity", value="99")]),
        pb.SheetChanges(sheet="sheets/s", cells=[
            pb.CellChange(row_path=["A"], column=c, measure="quantity", value="5") for c in ("2024-01", "total")
        ] + [pb.CellChange(row_path=[], column=c, measure="quantity", value="5") for c in ("2024-01", "total")]),
    ])
    assert local.apply(event) == 4
    assert local.revision == 5
    for path in ([], ["A"]):
        for col in ("2024-01", "total"):
            assert local.value(path, col, "quantity") == "5"
    with pytest.raises(dg.RevisionError):
        local.apply(event)  # replay
    with pytest.raises(dg.RevisionError) as err:
        local.apply(pb.ChangeEvent(revision=7))  # gap
    assert (err.value.have, err.value.got) == (5, 7)
    assert len(local.diff(dg.LocalGrid.from_proto(sample()))) == 4
    assert local.diff(local) == []
    assert local.rows == [(), ("A",), ("B",)]
    assert (local.caption(["A"]), local.caption(["B"]), local.caption([])) == ("00042", "", "")


def test_any_columns_and_depths() -> None:
    """Quarter and year subtotals, a ragged row, a second dimension's level."""
    cols = ["2025-01", "2025-Q1", "2025", "total"]
    grid = pb.Grid(sheet="sheets/s", revision=0, columns=cols, rows=[
        pb.Row(path=[], measures=[pb.MeasureValues(measure="amount", values=["1.00"] * 4)]),
        pb.Row(path=["North", "Harbour", "Quay"], leaf=True, caption="00012",
               measures=[pb.MeasureValues(measure="amount", values=["1.00"] * 4)]),
        pb.Row(path=["Online", "Web shop"], leaf=True, caption="00099",
               measures=[pb.MeasureValues(measure="amount", values=[""] * 4)]),
    ])
    local = dg.LocalGrid.from_proto(grid)
    local.apply(pb.ChangeEvent(revision=1, changes=[pb.SheetChanges(sheet="sheets/s", cells=[
        pb.CellChange(row_path=["Online", "Web shop"], column=c, measure="amount", value="-5.50") for c in cols[1:]
    ])]))
    assert [local.value(["Online", "Web shop"], c, "amount") for c in cols] == ["", "-5.50", "-5.50", "-5.50"]
    assert local.caption(["Online", "Web shop"]) == "00099"
    assert local.rows == [(), ("North", "Harbour", "Quay"), ("Online", "Web shop")]


def test_month_columns() -> None:
    def col(key: str, kind: int, total: bool = False) -> pb.Column:
        return pb.Column(key=key, kind=kind, total=total)  # type: ignore[arg-type]

    sheet = pb.Sheet(name="sheets/s", columns=[
        col("2025-Q4", pb.COLUMN_KIND_QUARTER), col("2025-11", pb.COLUMN_KIND_MONTH),
        col("2025-12", pb.COLUMN_KIND_MONTH), col("2025", pb.COLUMN_KIND_YEAR),
        col("total", pb.COLUMN_KIND_TOTAL, True),
    ])
    assert dg.month_columns(sheet) == ["2025-11", "2025-12"]
    assert dg.first_month_column(sheet) == "2025-11"
    # A server that does not set kinds: every column but the total is a month.
    old = pb.Sheet(name="sheets/o", columns=[col("2024-01", 0), col("total", 0, True)])
    assert dg.month_columns(old) == ["2024-01"]
    with pytest.raises(ValueError):
        dg.first_month_column(pb.Sheet(name="sheets/e", columns=[col("total", pb.COLUMN_KIND_TOTAL, True)]))
    assert dg.find_sheet([sheet, old], "sheets/o") is old
    with pytest.raises(KeyError):
        dg.find_sheet([sheet], "sheets/none")


def test_paths() -> None:
    assert dg.parse_path("") == []
    assert dg.format_path(dg.parse_path("A/B b/C")) == "A/B b/C"
