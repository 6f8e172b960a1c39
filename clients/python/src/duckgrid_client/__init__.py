"""Python client for duckgrid, the real-time multi-user planning grid.

The generated messages and stubs are re-exported as ``pb`` (messages) and
``pb_grpc`` (``GridServiceStub``); the hand-written helpers cover the common
cases: connecting, naming the actor and the session, reading structured
errors, keeping a local copy of a sheet current with :class:`SheetWatcher`,
and a cell's history and undo (:func:`history`, :func:`undo`).

>>> import duckgrid_client as dg
>>> channel = dg.connect("127.0.0.1:50051")
>>> stub = dg.pb_grpc.GridServiceStub(channel)
>>> sheets = stub.ListSheets(dg.pb.ListSheetsRequest())

With a token, over TLS (a private CA's certificate; add ``certificate_chain``
and ``private_key`` for mutual TLS):

>>> channel = dg.connect("127.0.0.1:50051", token="dg_...", root_certificates="certs/ca.pem")
"""

from duckgrid_client.client import (
    ACTOR_HEADER,
    AUTHORIZATION_HEADER,
    ERROR_DOMAIN,
    MAX_MESSAGE_SIZE,
    MAX_SESSION_ID_LENGTH,
    REASON_EXPECTED_VALUE_MISMATCH,
    SESSION_HEADER,
    TOTAL_COLUMN,
    PemSource,
    actor_metadata,
    bearer_metadata,
    cell,
    check_session_id,
    connect,
    current_value,
    error_info,
    find_sheet,
    first_leaf,
    first_month_column,
    format_path,
    is_month_column,
    list_sheets,
    month_columns,
    parse_path,
    session_metadata,
    tls_credentials,
)
from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb
from duckgrid_client.gen.duckgrid.v1 import grid_pb2_grpc as pb_grpc
from duckgrid_client.history import (
    REASON_HEAD_MOVED,
    REASON_NOTHING_TO_UNDO,
    REASON_REVISION_CONFLICT,
    REASON_REVISION_OUT_OF_RANGE,
    HistoryEntry,
    conflicting_revisions,
    head_revision,
    history,
    revert_revision,
    undo,
)
from duckgrid_client.localgrid import LocalGrid, RevisionError
from duckgrid_client.watcher import SheetWatcher, Update, UpdateKind

__all__ = [
    "ACTOR_HEADER",
    "AUTHORIZATION_HEADER",
    "ERROR_DOMAIN",
    "MAX_MESSAGE_SIZE",
    "MAX_SESSION_ID_LENGTH",
    "REASON_EXPECTED_VALUE_MISMATCH",
    "REASON_HEAD_MOVED",
    "REASON_NOTHING_TO_UNDO",
    "REASON_REVISION_CONFLICT",
    "REASON_REVISION_OUT_OF_RANGE",
    "SESSION_HEADER",
    "TOTAL_COLUMN",
    "HistoryEntry",
    "LocalGrid",
    "PemSource",
    "RevisionError",
    "SheetWatcher",
    "Update",
    "UpdateKind",
    "actor_metadata",
    "bearer_metadata",
    "cell",
    "check_session_id",
    "conflicting_revisions",
    "connect",
    "current_value",
    "error_info",
    "find_sheet",
    "first_leaf",
    "first_month_column",
    "format_path",
    "head_revision",
    "history",
    "is_month_column",
    "list_sheets",
    "month_columns",
    "parse_path",
    "pb",
    "pb_grpc",
    "revert_revision",
    "session_metadata",
    "tls_credentials",
    "undo",
]
