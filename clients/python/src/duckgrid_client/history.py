"""History and undo: who changed a cell, and taking revisions back."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import grpc
from google.protobuf import timestamp_pb2

from duckgrid_client.client import check_session_id, error_info
from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb
from duckgrid_client.gen.duckgrid.v1 import grid_pb2_grpc as pb_grpc

#: ErrorInfo reason (ABORTED) of a revert or undo whose target's facts a later
#: revision changed; metadata has ``conflicting_revisions`` and ``revision``.
REASON_REVISION_CONFLICT = "REVISION_CONFLICT"
#: ErrorInfo reason (ABORTED) when ``expected_head`` is not the head; metadata has ``head_revision``.
REASON_HEAD_MOVED = "HEAD_MOVED"
#: ErrorInfo reason (FAILED_PRECONDITION) of an undo with nothing of the caller's to undo.
REASON_NOTHING_TO_UNDO = "NOTHING_TO_UNDO"
#: ErrorInfo reason (OUT_OF_RANGE) of a revision beyond the retained fact history
#: or above the head; metadata has ``oldest_revision`` and ``head_revision``.
REASON_REVISION_OUT_OF_RANGE = "REVISION_OUT_OF_RANGE"

#: The most revisions ListRevisions returns in one page.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class HistoryEntry:
    """One revision that changed a cell, as :func:`history` yields it."""

    #: The revision.
    revision: int
    #: When it committed (UTC).
    commit_time: datetime
    #: Who wrote it (``x-duckgrid-actor``, or the authenticated principal).
    actor: str
    #: The write's idempotency key ("" when it had none).
    request_id: str
    #: The client session it came from (``x-duckgrid-session``; "" when none).
    session_id: str
    #: The cell's value before the revision ("" when it was empty).
    before: str
    #: The cell's value after the revision ("" when it became empty).
    after: str
    #: For a revert: the revision it took back; 0 for an edit.
    reverts_revision: int
    #: The revert (itself in effect) that took this revision back; 0 if none.
    reverted_by: int

    @property
    def is_revert(self) -> bool:
        """Whether this revision is a revert (RevertRevision or Undo)."""
        return self.reverts_revision != 0

    @property
    def in_effect(self) -> bool:
        """Whether no revert in effect has taken this revision back."""
        return self.reverted_by == 0

    @classmethod
    def from_revision(cls, revision: pb.Revision, cell: pb.CellRef) -> HistoryEntry:
        """The entry of ``revision`` (from ListRevisions with the ``cell`` filter) for ``cell``."""
        change = revision.change
        found = _cell_change(change, cell)
        return cls(
            revision=change.revision,
            commit_time=change.commit_time.ToDatetime(tzinfo=timezone.utc),
            actor=change.actor,
            request_id=change.request_id,
            session_id=change.session_id,
            before=found.previous_value if found is not None else "",
            after=found.value if found is not None else "",
            reverts_revision=change.reverts_revision,
            reverted_by=revision.reverted_by,
        )


def _cell_change(change: pb.ChangeEvent, cell: pb.CellRef) -> pb.CellChange | None:
    """The CellChange of ``cell`` in ``change``: the one naming it, else the
    only one there is (the server sends exactly that cell), else None."""
    every = [(sc.sheet, c) for sc in change.changes for c in sc.cells]
    for sheet, c in every:
        if (sheet, list(c.row_path), c.column, c.measure) == (cell.sheet, list(cell.row_path), cell.column, cell.measure):
            return c
    if len(every) == 1:
        return every[0][1]
    return None


def _timestamp(t: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(t)  # a naive datetime is taken as UTC
    return ts


def history(
    stub: pb_grpc.GridServiceStub,
    cell: pb.CellRef,
    *,
    limit: int | None = None,
    page_size: int = 0,
    oldest_first: bool = False,
    start_revision: int = 0,
    actor: str = "",
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    metadata: Sequence[tuple[str, str]] = (),
) -> Iterator[HistoryEntry]:
    """Who changed ``cell``: every revision that changed it, newest first
    (``oldest_first`` to reverse), with its value before and after.

    A generator: it calls ListRevisions (with the ``cell`` filter) page by
    page as it is consumed, following ``next_page_token`` until it is empty
    (pages may be empty while it is not) or ``limit`` entries were yielded;
    RPC errors are raised while iterating.

    ``page_size``: revisions per call (0: the server's default, 50; at most
    1000); ``start_revision``: the first revision to list (0: the head, or
    the oldest retained with ``oldest_first``); ``actor``: only that actor's
    revisions; ``start_time`` (inclusive) / ``end_time`` (exclusive): only
    revisions committed in that window.

    >>> for e in history(stub, dg.cell(sheet, path, "2024-03", "net_amount"), limit=10):
    ...     print(e.revision, e.actor, e.before, "->", e.after)
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit is negative: {limit}")
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 0 to {MAX_PAGE_SIZE}, not {page_size}")
    request = pb.ListRevisionsRequest(
        start_revision=start_revision, oldest_first=oldest_first, actor=actor, cell=cell,
    )
    if start_time is not None:
        request.start_time.CopyFrom(_timestamp(start_time))
    if end_time is not None:
        request.end_time.CopyFrom(_timestamp(end_time))
    yielded = 0
    token = ""
    while limit is None or yielded < limit:
        size = page_size
        if limit is not None:
            size = min(size or 50, limit - yielded)
        request.page_size = size
        request.page_token = token
        resp = stub.ListRevisions(request, metadata=tuple(metadata))
        for revision in resp.revisions:
            yield HistoryEntry.from_revision(revision, cell)
            yielded += 1
            if limit is not None and yielded >= limit:
                return
        if not resp.next_page_token:
            return
        if resp.next_page_token == token and not resp.revisions:
            raise RuntimeError(f"ListRevisions returned an empty page with the same page token {token!r}")
        token = resp.next_page_token


def undo(
    stub: pb_grpc.GridServiceStub,
    *,
    session_id: str | None = None,
    expected_head: int | None = None,
    overwrite: bool = False,
    request_id: str = "",
    metadata: Sequence[tuple[str, str]] = (),
) -> pb.Revision:
    """Takes back the caller's latest revision that is in effect (not a
    revert, not already reverted) and returns the new revision (whose
    ``change.reverts_revision`` is the one taken back). The caller is the
    actor of ``metadata`` (:func:`~duckgrid_client.actor_metadata`) or the
    authenticated principal.

    ``session_id``: only among the writes sent with that session
    (:func:`~duckgrid_client.session_metadata`); ``expected_head``: only if
    the head is that revision (else ABORTED, reason HEAD_MOVED);
    ``overwrite``: even when later revisions changed the same facts (else
    ABORTED, reason REVISION_CONFLICT, see :func:`conflicting_revisions`).
    Nothing to undo: FAILED_PRECONDITION, reason NOTHING_TO_UNDO.

    >>> rev = undo(stub, session_id=sid, metadata=dg.actor_metadata("ann"))
    >>> rev.change.reverts_revision
    """
    request = pb.UndoRequest(
        session_id=check_session_id(session_id) if session_id is not None else "",
        overwrite=overwrite,
        request_id=request_id,
    )
    if expected_head is not None:
        request.expected_head = expected_head
    resp: pb.UndoResponse = stub.Undo(request, metadata=tuple(metadata))
    return resp.revision


def revert_revision(
    stub: pb_grpc.GridServiceStub,
    revision: int,
    *,
    expected_head: int | None = None,
    overwrite: bool = False,
    request_id: str = "",
    metadata: Sequence[tuple[str, str]] = (),
) -> pb.Revision:
    """Takes back ``revision`` (anyone's) and returns the new revision; the
    options and errors are :func:`undo`'s, plus NOT_FOUND for a revision
    above the head and OUT_OF_RANGE (REVISION_OUT_OF_RANGE) for one older
    than the retained fact history."""
    request = pb.RevertRevisionRequest(revision=revision, overwrite=overwrite, request_id=request_id)
    if expected_head is not None:
        request.expected_head = expected_head
    resp: pb.RevertRevisionResponse = stub.RevertRevision(request, metadata=tuple(metadata))
    return resp.revision


def conflicting_revisions(err: grpc.RpcError) -> list[int] | None:
    """The later revisions that changed the same facts, ascending, from a
    revert or undo that failed with ABORTED, reason REVISION_CONFLICT; None
    for any other error."""
    info = error_info(err)
    if info is None or info.reason != REASON_REVISION_CONFLICT:
        return None
    text: str = info.metadata.get("conflicting_revisions", "")
    return [int(r) for r in text.split(",") if r.strip()]


def head_revision(err: grpc.RpcError) -> int | None:
    """The head revision reported by a HEAD_MOVED or REVISION_OUT_OF_RANGE
    error; None for any other error."""
    info = error_info(err)
    if info is None or info.reason not in (REASON_HEAD_MOVED, REASON_REVISION_OUT_OF_RANGE):
        return None
    text: str | None = info.metadata.get("head_revision")
    return int(text) if text else None
