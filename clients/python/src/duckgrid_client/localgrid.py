"""A local copy of one sheet, kept current by applying change events."""

from __future__ import annotations

from collections.abc import Sequence

from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb

CellKey = tuple[tuple[str, ...], str, str]


class RevisionError(Exception):
    """A change event that is not the next revision of the local copy: the
    stream skipped or repeated revisions (it promises neither), so the copy can
    no longer be trusted."""

    def __init__(self, have: int, got: int) -> None:
        super().__init__(
            f"out-of-order change: local copy is at revision {have}, received {got} (want {have + 1})"
        )
        self.have = have
        self.got = got


class LocalGrid:
    """A sheet's cells at one revision: built from a snapshot (or GetSheet),
    then :meth:`apply` each change event in order.

    Nothing is assumed about the sheet: any column keys (months, quarter and
    year subtotals, the total), any row depth (ragged hierarchies, a second
    dimension nested under the first), any measures. Row captions come from
    the snapshot (change events carry values only)."""

    def __init__(self, sheet: str, revision: int, columns: Sequence[str]) -> None:
        self.sheet = sheet
        self.revision = revision
        self.columns = list(columns)
        self._rows: dict[tuple[str, ...], None] = {}  # ordered set of row paths
        self._measures: dict[str, None] = {}
        self._values: dict[CellKey, str] = {}
        self._captions: dict[tuple[str, ...], str] = {}

    @classmethod
    def from_proto(cls, grid: pb.Grid) -> LocalGrid:
        local = cls(grid.sheet, grid.revision, grid.columns)
        for row in grid.rows:
            path = tuple(row.path)
            local._rows[path] = None
            if row.caption:
                local._captions[path] = row.caption
            for mv in row.measures:
                local._measures[mv.measure] = None
                for column, value in zip(local.columns, mv.values):
                    local._values[(path, column, mv.measure)] = value
        return local

    def apply(self, event: pb.ChangeEvent) -> int:
        """Applies one change event (which must be revision ``revision + 1``;
        anything else raises :class:`RevisionError` and changes nothing).
        Returns how many of this sheet's cells it set."""
        if event.revision != self.revision + 1:
            raise RevisionError(self.revision, event.revision)
        changed = 0
        for sheet_changes in event.changes:
            if sheet_changes.sheet != self.sheet:
                continue
            for c in sheet_changes.cells:
                path = tuple(c.row_path)
                self._rows.setdefault(path, None)
                self._values[(path, c.column, c.measure)] = c.value
                changed += 1
        self.revision = event.revision
        return changed

    def value(self, path: Sequence[str], column: str, measure: str) -> str | None:
        """A cell's value ("" for an empty cell); None when the copy lacks the cell."""
        return self._values.get((tuple(path), column, measure))

    def caption(self, path: Sequence[str]) -> str:
        """The row's caption (``Row.caption``, such as a member's code); "" when it has none."""
        return self._captions.get(tuple(path), "")

    @property
    def rows(self) -> list[tuple[str, ...]]:
        """Row paths in grid order."""
        return list(self._rows)

    @property
    def measures(self) -> list[str]:
        return list(self._measures)

    def __len__(self) -> int:
        return len(self._values)

    def diff(self, other: LocalGrid, limit: int = 10) -> list[str]:
        """Up to ``limit`` cells where the two copies differ (revisions are not compared)."""
        out: list[str] = []
        for key in sorted(self._values.keys() | other._values.keys()):
            mine, theirs = self._values.get(key), other._values.get(key)
            if mine != theirs:
                path, column, measure = key
                out.append(f"{'/'.join(path)!r} {column} {measure}: {mine!r} vs {theirs!r}")
                if len(out) >= limit:
                    break
        return out
