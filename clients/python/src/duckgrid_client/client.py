"""Connecting, request metadata and structured errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias, Union

import grpc
from google.rpc import error_details_pb2, status_pb2

from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb
from duckgrid_client.gen.duckgrid.v1 import grid_pb2_grpc as pb_grpc

#: Receive limit the client sets: snapshots and the change events of large
#: spreads can exceed gRPC's 4 MiB default.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: Request metadata naming who makes a write (comes back as ChangeEvent.actor).
ACTOR_HEADER = "x-duckgrid-actor"
#: Request metadata naming the client session a write comes from (comes back
#: as ChangeEvent.session_id; what ``UndoRequest.session_id`` matches).
SESSION_HEADER = "x-duckgrid-session"
#: The longest session id the server accepts.
MAX_SESSION_ID_LENGTH = 128
#: The google.rpc.ErrorInfo domain of every duckgrid error.
ERROR_DOMAIN = "duckgrid"
#: ErrorInfo reason of a failed compare-and-set (ABORTED); metadata has current_value.
REASON_EXPECTED_VALUE_MISMATCH = "EXPECTED_VALUE_MISMATCH"
#: The key of every sheet's total column.
TOTAL_COLUMN = "total"

#: Request metadata carrying the bearer token (``Bearer <token>``).
AUTHORIZATION_HEADER = "authorization"

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

#: A PEM certificate or key: its bytes, or the path of a file holding it (a
#: ``str`` that itself starts with ``-----BEGIN`` is taken as the PEM text).
PemSource: TypeAlias = Union[bytes, str, os.PathLike[str]]

_PEM_MARKER = b"-----BEGIN"


def connect(
    addr: str,
    *,
    options: Sequence[tuple[str, int | str]] = (),
    token: str | None = None,
    tls: bool | None = None,
    root_certificates: PemSource | None = None,
    certificate_chain: PemSource | None = None,
    private_key: PemSource | None = None,
    server_name: str | None = None,
) -> grpc.Channel:
    """A channel to a duckgrid server at ``addr`` ("127.0.0.1:50051") with a
    64 MiB receive limit; plaintext unless a TLS option is given.

    ``token``: sent as ``authorization: Bearer <token>`` on every call
    (unary and streaming), over TLS and over plaintext alike; a call whose
    own metadata already has ``authorization`` keeps it.

    TLS is used when ``tls`` is true or any of the other options is given
    (``tls=False`` with one of them is an error):

    - ``root_certificates``: the CA certificate(s) to verify the server with
      (``ca.pem`` of ``duckgrid certs new``); without it, the system's roots;
    - ``certificate_chain`` + ``private_key`` (both or neither): a client
      certificate for mutual TLS (``client-NAME.pem`` / ``client-NAME.key``);
    - ``server_name``: the name to verify the server's certificate against
      (and send as SNI) instead of the host of ``addr``.

    Certificates and keys are :data:`PemSource`: PEM bytes or a file path.
    """
    bearer = _BearerToken(token) if token is not None else None
    channel_options: list[tuple[str, int | str]] = [("grpc.max_receive_message_length", MAX_MESSAGE_SIZE)]
    use_tls = tls
    wants_tls = any(v is not None for v in (root_certificates, certificate_chain, private_key, server_name))
    if use_tls is None:
        use_tls = wants_tls
    elif not use_tls and wants_tls:
        raise ValueError("tls=False cannot be combined with root_certificates, certificate_chain, "
                         "private_key or server_name")
    if server_name is not None:
        if not server_name:
            raise ValueError("server_name is empty")
        channel_options.append(("grpc.ssl_target_name_override", server_name))
    channel_options.extend(options)
    if use_tls:
        credentials = tls_credentials(
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
        )
        channel: grpc.Channel = grpc.secure_channel(addr, credentials, options=channel_options)
    else:
        channel = grpc.insecure_channel(addr, options=channel_options)
    if bearer is not None:
        channel = grpc.intercept_channel(channel, bearer)
    return channel


def tls_credentials(
    *,
    root_certificates: PemSource | None = None,
    certificate_chain: PemSource | None = None,
    private_key: PemSource | None = None,
) -> grpc.ChannelCredentials:
    """TLS channel credentials for ``grpc.secure_channel`` (what :func:`connect`
    uses): trust ``root_certificates`` (the system's roots when None) and, for
    mutual TLS, present ``certificate_chain`` with ``private_key``."""
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("a client certificate needs both certificate_chain and private_key")
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(root_certificates, "root_certificates"),
        private_key=_read_pem(private_key, "private_key"),
        certificate_chain=_read_pem(certificate_chain, "certificate_chain"),
    )


def _read_pem(source: PemSource | None, what: str) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, str) and source.lstrip().startswith(_PEM_MARKER.decode()):
        data = source.encode()
    elif isinstance(source, (str, os.PathLike)):
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            raise OSError(err.errno, f"{what}: cannot read {os.fspath(source)!r}: {err.strerror}") from err
        what = f"{what} ({os.fspath(source)})"
    else:
        raise TypeError(f"{what}: expected PEM bytes or a file path, got {type(source).__name__}")
    if _PEM_MARKER not in data:
        raise ValueError(f"{what} is not PEM (no '-----BEGIN' line)")
    return data


def _check_token(token: str) -> str:
    if not isinstance(token, str):
        raise TypeError(f"token: expected str, got {type(token).__name__}")
    token = token.strip()
    if not token:
        raise ValueError("token is empty")
    if any(not ("!" <= ch <= "~") for ch in token):
        raise ValueError("token must be printable ASCII without spaces (pass the token alone, without 'Bearer ')")
    return token


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying ``token``: ``stub.GetSheet(req, metadata=...)``
    (a channel from ``connect(addr, token=...)`` sends it on every call)."""
    return ((AUTHORIZATION_HEADER, f"Bearer {_check_token(token)}"),)


class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    """The call's details with other metadata."""

    def __init__(self, details: Any, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = tuple(metadata)
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds ``authorization: Bearer <token>`` to every call that has none.

    An interceptor rather than ``grpc.access_token_call_credentials``: call
    credentials need a secure channel, and a token must also work over
    plaintext (a development server on loopback)."""

    def __init__(self, token: str) -> None:
        self._metadata = bearer_metadata(token)[0]

    def _details(self, details: Any) -> _CallDetails:
        metadata: list[tuple[str, str | bytes]] = list(details.metadata or ())
        if not any(key.lower() == AUTHORIZATION_HEADER for key, _ in metadata):
            metadata.append(self._metadata)
        return _CallDetails(details, metadata)

    def intercept_unary_unary(self, continuation: Callable[[Any, Any], Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[[Any, Any], Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[[Any, Any], Any], details: Any,
                               request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation: Callable[[Any, Any], Any], details: Any,
                                request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)


def actor_metadata(actor: str) -> tuple[tuple[str, str], ...]:
    """Call metadata naming ``actor`` as the writer: ``stub.UpdateCell(req, metadata=...)``."""
    return ((ACTOR_HEADER, actor),)


def check_session_id(session_id: str) -> str:
    """``session_id`` if the server accepts it (1 to 128 printable ASCII
    characters), else ValueError."""
    if not isinstance(session_id, str):
        raise TypeError(f"session id: expected str, got {type(session_id).__name__}")
    if not session_id:
        raise ValueError("session id is empty")
    if len(session_id) > MAX_SESSION_ID_LENGTH:
        raise ValueError(f"session id is {len(session_id)} characters long (at most {MAX_SESSION_ID_LENGTH})")
    if any(not (" " <= ch <= "~") for ch in session_id):
        raise ValueError("session id must be printable ASCII")
    return session_id


def session_metadata(session_id: str) -> tuple[tuple[str, str], ...]:
    """Call metadata naming the client session of a write, so that
    :func:`~duckgrid_client.undo` can take back only this session's writes:
    ``stub.UpdateCell(req, metadata=actor_metadata("ann") + session_metadata(sid))``."""
    return ((SESSION_HEADER, check_session_id(session_id)),)


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
