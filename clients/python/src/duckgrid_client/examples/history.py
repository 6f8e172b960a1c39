"""Who changed this cell: every revision that changed one cell, newest first,
with its value before and after. It works against any model: without --sheet
it reads the first sheet of ListSheets, without --measure that sheet's first
measure, without --column its first month column and without --row its first
leaf row. With --undo it first takes back the latest revision of --actor (in
--session only, when given) that is still in effect.

    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051
    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --limit 5
    python -m duckgrid_client.examples.history --addr 127.0.0.1:50051 --undo --actor python-example

With a token (--token or $DUCKGRID_TOKEN) or a client certificate (--cert and
--key) the server takes the actor from the key (or the certificate), and
--actor is sent only when given.
"""

from __future__ import annotations

import argparse
import sys

import grpc

import duckgrid_client as dg
from duckgrid_client.examples import _cell, _connection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m duckgrid_client.examples.history")
    _cell.add_arguments(parser)
    parser.add_argument("--limit", type=int, default=20, help="print at most this many revisions (0: all)")
    parser.add_argument("--undo", action="store_true", help="first undo the latest revision of --actor still in effect")
    parser.add_argument("--session", help="with --undo: only among the writes of this session (x-duckgrid-session)")
    parser.add_argument("--overwrite", action="store_true", help="with --undo: even if later revisions changed the same facts")
    parser.add_argument("--actor", help='whose revision --undo takes back (x-duckgrid-actor; default "python-example" '
                        "without a token or client certificate, none with one)")
    _connection.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be 0 or more")
    if args.session is not None:
        try:
            dg.check_session_id(args.session)
        except ValueError as err:
            parser.error(f"--session: {err}")
    actor = _connection.actor(args)
    metadata = dg.actor_metadata(actor) if actor is not None else ()

    with _connection.connect(parser, args) as channel:
        stub = dg.pb_grpc.GridServiceStub(channel)
        target = _cell.find(stub, args, "history")
        if target is None:
            return 1
        label = _cell.label(target)

        if args.undo:
            try:
                rev = dg.undo(stub, session_id=args.session, overwrite=args.overwrite, metadata=metadata)
            except grpc.RpcError as err:
                info = dg.error_info(err)
                whose = f'"{actor}"' if actor is not None else "you"
                if info is not None and info.reason == dg.REASON_NOTHING_TO_UNDO:
                    print(f"nothing to undo for {whose}" + (f" in session {args.session}" if args.session else ""))
                    return 3
                later = dg.conflicting_revisions(err)
                if later is not None:
                    print(f"conflict: revision {info.metadata.get('revision', '?') if info else '?'} was changed "
                          f"since by revision(s) {', '.join(map(str, later))} (--overwrite to undo anyway)")
                    return 3
                print(f"history: undo: {_connection.rpc_error(err)}", file=sys.stderr)
                return 1
            c = rev.change
            cells = sum(len(sc.cells) for sc in c.changes)
            print(f'undid revision {c.reverts_revision} by "{c.actor}": revision {c.revision} ({cells} cells changed)')

        try:
            entries = list(dg.history(stub, target, limit=args.limit or None))
        except grpc.RpcError as err:
            print(f"history: {_connection.rpc_error(err)}", file=sys.stderr)
            return 1
    if not entries:
        print(f"nobody changed {label} of {target.sheet}")
        return 0
    print(f"who changed {label} of {target.sheet} (newest first):")
    for e in entries:
        when = e.commit_time.isoformat(timespec="seconds").replace("+00:00", "Z")
        extra = [f"session {e.session_id}"] if e.session_id else []
        if e.request_id:
            extra.append(f"request {e.request_id}")
        line = f'  revision {e.revision} at {when} by "{e.actor}"'
        if extra:
            line += f" ({', '.join(extra)})"
        line += f': "{e.before}" -> "{e.after}"'
        if e.is_revert:
            line += f" [undoes revision {e.reverts_revision}]"
        if not e.in_effect:
            line += f" [undone by revision {e.reverted_by}]"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
