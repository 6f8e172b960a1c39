"""Connecting, request metadata and structured errors."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.rpc import error_details_pb2, status_pb2

from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb
from duckgrid_client.gen.duckgrid.v1 import grid_pb2_grpc as pb_grpc

#: Receive limit the client sets: snapshots and the change events of large
#: spreads can exceed gRPC's 4 MiB default.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: Request metadata naming who makes a write (comes back as ChangeEvent.actor).
ACTOR_HEADER = "x-duckgrid-actor"
#: The google.rpc.ErrorInfo domain of every duckgrid error.
ERROR_DOMAIN = "duckgrid"
#: ErrorInfo reason of a failed compare-and-set (ABORTED); metadata has current_value.
REASON_EXPECTED_VALUE_MISMATCH = "EXPECTED_VALUE_MISMATCH"
#: The key of every sheet's total column.
TOTAL_COLUMN = "total"

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def connect(addr: str, *, options: Sequence[tuple[str, int | str]] = ()) -> grpc.Channel:
    """A plaintext channel to a duckgrid server at ``addr`` ("127.0.0.1:50051")
    with a 64 MiB receive limit."""
    return grpc.insecure_channel(
        addr,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
            *options,
        ],
    )


def actor_metadata(actor: str) -> tuple[tuple[str, str], ...]:
    """Call metadata naming ``actor`` as the writer: ``stub.UpdateCell(req, metadata=...)``."""
    return ((ACTOR_HEADER, actor),)


def _status(err: grpc.RpcError) -> status_pb2.Status | None:
    trailers = err.trailing_metadata() if isinstance(err, grpc.Call) else None
    for key, value in trailers or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The google.rpc.ErrorInfo carried in a failed call's grpc-status-details-bin."""
    status = _status(err)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def current_value(err: grpc.RpcError) -> str | None:
    """The cell's current value from a compare-and-set conflict (ABORTED,
    reason EXPECTED_VALUE_MISMATCH); None for any other error."""
    info = error_info(err)
    if info is None or info.reason != REASON_EXPECTED_VALUE_MISMATCH:
        return None
    value: str | None = info.metadata.get("current_value")
    return value


def cell(sheet: str, row_path: Sequence[str], column: str, measure: str) -> pb.CellRef:
    """Builds a CellRef."""
    return pb.CellRef(sheet=sheet, row_path=list(row_path), column=column, measure=measure)


def list_sheets(stub: pb_grpc.GridServiceStub, *, metadata: Sequence[tuple[str, str]] = ()) -> list[pb.Sheet]:
    """Every sheet of the model, in model order (following ListSheets' pages)."""
    sheets: list[pb.Sheet] = []
    token = ""
    while True:
        resp = stub.ListSheets(pb.ListSheetsRequest(page_token=token), metadata=tuple(metadata))
        sheets.extend(resp.sheets)
        token = resp.next_page_token
        if not token:
            return sheets


def find_sheet(sheets: Sequence[pb.Sheet], name: str) -> pb.Sheet:
    """The sheet named ``name`` ("sheets/budget_by_account") among ``sheets``."""
    for sheet in sheets:
        if sheet.name == name:
            return sheet
    raise KeyError(f"no sheet {name!r} (the model has {', '.join(s.name for s in sheets) or 'no sheets'})")


def is_month_column(column: pb.Column) -> bool:
    """Whether a column is one month (Column.kind MONTH). From a server that
    does not set kinds, every column but the total is a month."""
    if column.kind == pb.COLUMN_KIND_UNSPECIFIED:
        return not column.total
    return column.kind == pb.COLUMN_KIND_MONTH


def month_columns(sheet: pb.Sheet) -> list[str]:
    """The keys of a sheet's month columns, in order (no quarter, year or total columns)."""
    return [c.key for c in sheet.columns if is_month_column(c)]


def first_month_column(sheet: pb.Sheet) -> str:
    """The key of a sheet's first month column ("2024-01")."""
    months = month_columns(sheet)
    if not months:
        raise ValueError(f"sheet {sheet.name} has no month column")
    return months[0]


def first_leaf(grid: pb.Grid) -> pb.Row:
    """The first leaf row of a grid (hierarchy order)."""
    for row in grid.rows:
        if row.leaf:
            return row
    raise ValueError(f"grid {grid.sheet} has no leaf row")


def parse_path(text: str) -> list[str]:
    """Splits a "/"-separated row path ("Acme/Acme Select/Coffee"); "" is the grand total."""
    return text.split("/") if text else []


def format_path(path: Sequence[str]) -> str:
    """Joins a row path with "/" (the grand total is "")."""
    return "/".join(path)
