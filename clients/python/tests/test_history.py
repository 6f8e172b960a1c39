"""History and undo against the real server: history(cell), undo() within a
session, reverting a revision a later one touched, reading the past."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import grpc
import pytest

import duckgrid_client as dg
from conftest import PRODUCT

pb = dg.pb


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def read(stub: dg.pb_grpc.GridServiceStub, cell: pb.CellRef, revision: int = 0) -> str:
    """The cell's value (at ``revision``; 0: the latest)."""
    request = pb.GetSheetRequest(name=cell.sheet, columns=[cell.column], measures=[cell.measure])
    if revision:
        request.revision = revision
    grid = stub.GetSheet(request).grid
    if revision:
        assert grid.revision == revision
    for row in grid.rows:
        if list(row.path) == list(cell.row_path):
            (mv,) = row.measures
            value: str = mv.values[0]
            return value
    raise KeyError(list(cell.row_path))


def write(stub: dg.pb_grpc.GridServiceStub, cell: pb.CellRef, value: str, metadata: Sequence[tuple[str, str]],
          request_id: str = "") -> int:
    req = pb.UpdateCellRequest(edit=pb.CellEdit(cell=cell, value=value), request_id=request_id)
    resp: pb.UpdateCellResponse = stub.UpdateCell(req, metadata=tuple(metadata))
    assert resp.result.new_value == value
    revision: int = resp.revision
    return revision


def leaf_cell(stub: dg.pb_grpc.GridServiceStub, column: str, measure: str) -> pb.CellRef:
    grid = stub.GetSheet(pb.GetSheetRequest(name=PRODUCT, columns=[column], measures=[measure])).grid
    return dg.cell(PRODUCT, dg.first_leaf(grid).path, column, measure)


def two_values(old: str) -> tuple[str, str]:
    v1, v2 = "111.11", "222.22"
    return (v1, v2) if old not in (v1, v2) else ("333.33", "444.44")


def rpc_error(excinfo: pytest.ExceptionInfo[grpc.RpcError], code: grpc.StatusCode, reason: str) -> grpc.RpcError:
    err = excinfo.value
    assert isinstance(err, grpc.Call)
    assert err.code() == code, (err.code(), err.details())
    info = dg.error_info(err)
    assert info is not None, f"{code} without google.rpc.ErrorInfo"
    assert (info.domain, info.reason) == (dg.ERROR_DOMAIN, reason), (info.domain, info.reason, err.details())
    return err


def test_session_metadata() -> None:
    assert dg.session_metadata("tab-1") == ((dg.SESSION_HEADER, "tab-1"),)
    assert dg.actor_metadata("ann") + dg.session_metadata("s 1") == (("x-duckgrid-actor", "ann"), ("x-duckgrid-session", "s 1"))
    assert dg.session_metadata("x" * dg.MAX_SESSION_ID_LENGTH)
    for bad in ("", "x" * (dg.MAX_SESSION_ID_LENGTH + 1), "caf\u00e9", "a\nb"):
        with pytest.raises(ValueError):
            dg.session_metadata(bad)
    with pytest.raises(ValueError):
        dg.undo(None, session_id="")  # type: ignore[arg-type]  # rejected before any call
    with pytest.raises(ValueError):
        next(dg.history(None, dg.cell(PRODUCT, [], "total", "quantity"), page_size=1001))  # type: ignore[arg-type]


def test_history_and_undo_in_a_session(stub: dg.pb_grpc.GridServiceStub) -> None:
    actor, session = unique("py-history"), unique("py-session")
    md = dg.actor_metadata(actor) + dg.session_metadata(session)
    target = leaf_cell(stub, "2024-11", "net_amount")
    v0 = read(stub, target)
    v1, v2 = two_values(v0)
    request_id = unique("py-request")

    r1 = write(stub, target, v1, md)
    r2 = write(stub, target, v2, md, request_id=request_id)
    assert r2 == r1 + 1

    newest = list(dg.history(stub, target, limit=2))
    assert [e.revision for e in newest] == [r2, r1], "newest first"
    e2, e1 = newest
    assert (e1.before, e1.after) == (v0, v1)
    assert (e2.before, e2.after) == (v1, v2)
    for e in newest:
        assert (e.actor, e.session_id, e.reverts_revision, e.reverted_by) == (actor, session, 0, 0)
        assert not e.is_revert and e.in_effect
        assert e.commit_time.tzinfo is not None and e.commit_time.year >= 2024
    assert (e1.request_id, e2.request_id) == ("", request_id)
    assert e1.commit_time <= e2.commit_time

    # Paging one revision at a time gives the same entries as one page.
    assert list(dg.history(stub, target, page_size=1, limit=2)) == newest
    everything = list(dg.history(stub, target, page_size=1))
    assert everything[:2] == newest
    assert everything == list(dg.history(stub, target, page_size=1000))
    assert [e.revision for e in dg.history(stub, target, oldest_first=True, start_revision=r1, limit=2)] == [r1, r2]
    assert [e.revision for e in dg.history(stub, target, actor=actor)] == [r2, r1]
    assert list(dg.history(stub, target, limit=0)) == []

    # The past, as GetSheet(revision) reads it.
    assert read(stub, target, r1 - 1) == v0
    assert read(stub, target, r1) == v1
    assert read(stub, target, r2) == v2

    # The first undo takes back the latest write of the session.
    u1 = dg.undo(stub, session_id=session, metadata=md)
    assert u1.change.reverts_revision == r2 and u1.change.revision == r2 + 1
    assert u1.change.actor == actor
    assert not u1.change.edits, "a revert has no edits"
    changed = {(sc.sheet, tuple(c.row_path), c.column, c.measure): (c.previous_value, c.value)
               for sc in u1.change.changes for c in sc.cells}
    assert changed[(PRODUCT, tuple(target.row_path), target.column, target.measure)] == (v2, v1)
    assert read(stub, target) == v1
    assert read(stub, target, r1) == v1

    # The second undo takes back the first write; then nothing is left in the session.
    u2 = dg.undo(stub, session_id=session, metadata=md)
    assert u2.change.reverts_revision == r1 and u2.change.revision == u1.change.revision + 1
    assert read(stub, target) == v0
    assert read(stub, target, r1) == v1, "the past stays as it was"
    with pytest.raises(grpc.RpcError) as excinfo:
        dg.undo(stub, session_id=session, metadata=md)
    rpc_error(excinfo, grpc.StatusCode.FAILED_PRECONDITION, dg.REASON_NOTHING_TO_UNDO)

    after = list(dg.history(stub, target, limit=4))
    assert [e.revision for e in after] == [u2.change.revision, u1.change.revision, r2, r1]
    h4, h3, h2, h1 = after
    assert (h4.reverts_revision, h4.before, h4.after, h4.reverted_by) == (r1, v1, v0, 0)
    assert (h3.reverts_revision, h3.before, h3.after, h3.reverted_by) == (r2, v2, v1, 0)
    assert h4.is_revert and h3.is_revert
    assert (h2.reverted_by, h1.reverted_by) == (u1.change.revision, u2.change.revision)
    assert not h2.in_effect and not h1.in_effect

    # Undo is scoped to the caller and the session: another actor's write in
    # this session and the caller's write in another session are not "mine here".
    other = leaf_cell(stub, "2024-12", "net_amount")
    r5 = write(stub, other, two_values(read(stub, other))[0], dg.actor_metadata(actor) + dg.session_metadata(unique("py-s2")))
    write(stub, dg.cell(PRODUCT, target.row_path, "2024-09", "net_amount"), "9.99",
          dg.actor_metadata(unique("py-someone-else")) + dg.session_metadata(session))
    with pytest.raises(grpc.RpcError) as excinfo:
        dg.undo(stub, session_id=session, metadata=md)
    rpc_error(excinfo, grpc.StatusCode.FAILED_PRECONDITION, dg.REASON_NOTHING_TO_UNDO)
    u5 = dg.undo(stub, metadata=dg.actor_metadata(actor))
    assert u5.change.reverts_revision == r5


def test_revert_conflict_and_overwrite(stub: dg.pb_grpc.GridServiceStub) -> None:
    actor = unique("py-revert")
    md = dg.actor_metadata(actor)
    target = leaf_cell(stub, "2025-11", "net_amount")
    v0 = read(stub, target)
    va, vb = two_values(v0)
    ra = write(stub, target, va, md)
    rb = write(stub, target, vb, md)

    # rb changed the facts ra changed: reverting ra conflicts.
    with pytest.raises(grpc.RpcError) as excinfo:
        dg.revert_revision(stub, ra, metadata=md)
    err = rpc_error(excinfo, grpc.StatusCode.ABORTED, dg.REASON_REVISION_CONFLICT)
    assert dg.conflicting_revisions(err) == [rb]
    info = dg.error_info(err)
    assert info is not None and info.metadata["conflicting_revisions"] == str(rb)
    assert info.metadata["revision"] == str(ra)
    assert read(stub, target) == vb, "a rejected revert changes nothing"

    # expected_head: compare-and-set on the head.
    with pytest.raises(grpc.RpcError) as excinfo:
        dg.undo(stub, expected_head=rb - 1, metadata=md)
    err = rpc_error(excinfo, grpc.StatusCode.ABORTED, dg.REASON_HEAD_MOVED)
    assert dg.head_revision(err) == rb
    assert dg.conflicting_revisions(err) is None

    # overwrite: revert anyway; the cell reads its value from before ra.
    rc = dg.revert_revision(stub, ra, overwrite=True, expected_head=rb, request_id=unique("py-revert-req"), metadata=md)
    assert rc.change.reverts_revision == ra and rc.change.revision == rb + 1
    assert read(stub, target) == v0
    (ea,) = [e for e in dg.history(stub, target, limit=5) if e.revision == ra]
    assert ea.reverted_by == rc.change.revision

    # Reverting the revert restores what the cell held before it (rb's value).
    rd = dg.revert_revision(stub, rc.change.revision, metadata=md)
    assert rd.change.reverts_revision == rc.change.revision
    assert read(stub, target) == vb
    got = {e.revision: e for e in dg.history(stub, target, limit=5)}
    assert got[rc.change.revision].reverted_by == rd.change.revision
    assert got[ra].reverted_by == 0, "its revert was itself taken back"


def test_out_of_range_and_not_found(stub: dg.pb_grpc.GridServiceStub) -> None:
    head = stub.GetSheet(pb.GetSheetRequest(name=PRODUCT, columns=["total"], measures=["quantity"])).grid.revision
    with pytest.raises(grpc.RpcError) as excinfo:
        stub.GetSheet(pb.GetSheetRequest(name=PRODUCT, revision=head + 1000))
    err = rpc_error(excinfo, grpc.StatusCode.OUT_OF_RANGE, dg.REASON_REVISION_OUT_OF_RANGE)
    assert dg.head_revision(err) == head
    info = dg.error_info(err)
    assert info is not None and "oldest_revision" in info.metadata
    with pytest.raises(grpc.RpcError) as excinfo:
        stub.GetRevision(pb.GetRevisionRequest(revision=head + 1000))
    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as excinfo:
        dg.revert_revision(stub, head + 1000, metadata=dg.actor_metadata("py-revert"))
    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND
