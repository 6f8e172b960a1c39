"""Watch a sheet and keep a local copy current across disconnects."""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import grpc

from duckgrid_client.gen.duckgrid.v1 import grid_pb2 as pb
from duckgrid_client.gen.duckgrid.v1 import grid_pb2_grpc as pb_grpc
from duckgrid_client.localgrid import LocalGrid

_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    }
)


class UpdateKind(enum.Enum):
    SNAPSHOT = "snapshot"  #: the local copy was (re)built from a snapshot
    CHANGE = "change"  #: a change event was applied
    PROGRESS = "progress"  #: a heartbeat: the copy is current up to the head revision


@dataclass(frozen=True)
class Update:
    """What one watch message did; yielded after it was applied."""

    kind: UpdateKind
    #: The local copy's revision after the update.
    revision: int
    #: The local copy (read it in the consuming thread; see SheetWatcher.value).
    grid: LocalGrid
    #: The event applied (UpdateKind.CHANGE only).
    change: pb.ChangeEvent | None = None


class SheetWatcher:
    """Keeps a local copy of one sheet current.

    Asks WatchUpdates for a snapshot and then every change after it; when the
    stream breaks it resumes from the last revision received + 1, so nothing is
    missed or applied twice. A start revision the server no longer retains
    (OUT_OF_RANGE) makes it take a fresh snapshot. Errors that retrying cannot
    fix (NOT_FOUND, INVALID_ARGUMENT, ...) and out-of-order events
    (:class:`~duckgrid_client.RevisionError`) are raised.

    Works for any sheet (see :class:`~duckgrid_client.LocalGrid`).

    >>> watcher = SheetWatcher(stub, "sheets/sales_by_product_family")
    >>> for update in watcher.updates():   # blocks; watcher.stop() ends it
    ...     print(update.kind, update.revision)
    """

    def __init__(
        self,
        stub: pb_grpc.GridServiceStub,
        sheet: str,
        *,
        row_path: Sequence[str] = (),
        measures: Sequence[str] = (),
        metadata: Sequence[tuple[str, str]] = (),
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self._stub = stub
        self.sheet = sheet
        self._row_path = list(row_path)
        self._measures = list(measures)
        self._metadata = tuple(metadata)
        self._min_backoff = min_backoff
        self._max_backoff = max(max_backoff, min_backoff)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._grid: LocalGrid | None = None
        self._call: grpc.Future | None = None
        self._dropped = False
        self.reconnects = 0

    # -- control, from any thread ---------------------------------------------

    def stop(self) -> None:
        """Ends :meth:`updates` / :meth:`run` (they return normally)."""
        self._stopping.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def drop_stream(self) -> None:
        """Cancels the current stream, as a network failure would; the watcher
        resumes at once from the last revision received + 1."""
        with self._lock:
            if self._call is not None:
                self._dropped = True
                self._call.cancel()

    @property
    def revision(self) -> int:
        """The local copy's revision (-1 before the first snapshot)."""
        with self._lock:
            return self._grid.revision if self._grid is not None else -1

    def value(self, path: Sequence[str], column: str, measure: str) -> str | None:
        """Reads a cell of the local copy."""
        with self._lock:
            return self._grid.value(path, column, measure) if self._grid is not None else None

    def caption(self, path: Sequence[str]) -> str:
        """A row's caption in the local copy ("" when it has none)."""
        with self._lock:
            return self._grid.caption(path) if self._grid is not None else ""

    def diff(self, grid: pb.Grid, limit: int = 10) -> list[str]:
        """Compares the local copy with a grid read by GetSheet."""
        with self._lock:
            if self._grid is None:
                return ["no snapshot yet"]
            return self._grid.diff(LocalGrid.from_proto(grid), limit)

    # -- the loop ----------------------------------------------------------------

    def run(self, on_update: Callable[[Update], None] | None = None) -> None:
        """Runs :meth:`updates` to the end, calling ``on_update`` for each."""
        for update in self.updates():
            if on_update is not None:
                on_update(update)

    def updates(self) -> Iterator[Update]:
        """Yields an :class:`Update` after each message was applied, until
        :meth:`stop`."""
        backoff = self._min_backoff
        while not self._stopping.is_set():
            request = pb.WatchUpdatesRequest(
                sheet=self.sheet, row_path=self._row_path, measures=self._measures
            )
            with self._lock:
                if self._grid is None:
                    request.send_snapshot = True
                else:
                    request.start_revision = self._grid.revision + 1
                call = self._stub.WatchUpdates(request, metadata=self._metadata)
                self._call, self._dropped = call, False
            if self._stopping.is_set():
                call.cancel()
            error: grpc.RpcError | None = None
            received = False
            try:
                for message in call:
                    received = True
                    update = self._apply(message)
                    if update is not None:
                        yield update
            except grpc.RpcError as e:
                error = e
            finally:
                call.cancel()  # no-op when it already ended; frees it on GeneratorExit
                with self._lock:
                    self._call = None
                    dropped = self._dropped
            if self._stopping.is_set():
                return
            if received:
                backoff = self._min_backoff
            code = error.code() if isinstance(error, grpc.Call) else None
            if dropped:
                pass  # drop_stream(): resume at once
            elif code == grpc.StatusCode.OUT_OF_RANGE:
                with self._lock:
                    self._grid = None  # the start revision is gone: re-read and re-watch
            elif error is None or code in _RETRYABLE:
                if self._stopping.wait(backoff):
                    return
                backoff = min(2 * backoff, self._max_backoff)
            else:
                raise error
            self.reconnects += 1

    def _apply(self, message: pb.WatchUpdatesResponse) -> Update | None:
        kind = message.WhichOneof("kind")
        with self._lock:
            if kind == "snapshot":
                self._grid = LocalGrid.from_proto(message.snapshot)
                return Update(UpdateKind.SNAPSHOT, self._grid.revision, self._grid)
            if kind == "change":
                if self._grid is None:
                    raise RuntimeError(
                        f"change {message.change.revision} arrived before the snapshot"
                    )
                self._grid.apply(message.change)
                return Update(UpdateKind.CHANGE, self._grid.revision, self._grid, message.change)
            if kind == "progress":
                if self._grid is None:
                    return None
                # Every revision up to head was delivered or filtered out.
                self._grid.revision = max(self._grid.revision, message.progress.head_revision)
                return Update(UpdateKind.PROGRESS, self._grid.revision, self._grid)
        return None  # a kind this client does not know yet
