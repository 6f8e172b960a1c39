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
            pb.Row(path=["A"], leaf=True, measures=[mv("quantity", "3", "3")]),
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


def test_paths() -> None:
    assert dg.parse_path("") == []
    assert dg.format_path(dg.parse_path("A/B b/C")) == "A/B b/C"
