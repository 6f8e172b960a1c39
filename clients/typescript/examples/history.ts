// Who changed this cell: print a cell's history, newest first (every revision
// that changed it, with its time, actor, session, request id and the value
// before and after). With --undo it first undoes the latest revision of
// --actor (within --session, when given) that is still in effect. It works
// against any model: without --sheet it reads the first sheet of ListSheets,
// without --measure that sheet's first measure, without --column its first
// month column and without --row its first leaf row.
//
//   node dist/examples/history.js --addr 127.0.0.1:50051
//   node dist/examples/history.js --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --limit 5
//   node dist/examples/history.js --addr 127.0.0.1:50051 --undo --actor ts-example
//
// Connection flags (--token, also $DUCKGRID_TOKEN; --ca, --cert, --key,
// --server-name, --tls): see connection.ts. With credentials Undo takes back
// the key's own revisions, so --actor is sent only when given.
import { parseArgs } from "node:util";

import {
  type HistoryEntry,
  actorHeaders,
  cell,
  cellHistory,
  conflictingRevisions,
  errorInfo,
  formatPath,
  isNothingToUndo,
  undo,
} from "../src/index.js";
import { cellFlags, findCell } from "./cell.js";
import { actorOf, connectWith, connectionFlags, connectionUsage } from "./connection.js";

const { values: args } = parseArgs({
  options: {
    ...connectionFlags,
    ...cellFlags,
    limit: { type: "string", default: "20" }, // print at most this many revisions (0: all)
    undo: { type: "boolean", default: false }, // first undo the latest revision of --actor
    actor: { type: "string" }, // default "ts-example" without credentials; with them, the server's name for you
    session: { type: "string" }, // --undo: only among the writes of this session (x-duckgrid-session)
    overwrite: { type: "boolean", default: false }, // --undo: even when later revisions changed the same facts
  },
});
const limit = Number(args.limit);
if (!Number.isInteger(limit) || limit < 0) {
  console.error("usage: history [--sheet S] [--row R] [--column C] [--measure M] [--limit N] " +
    "[--undo [--actor NAME] [--session ID] [--overwrite]] " + connectionUsage);
  process.exit(2);
}

const client = connectWith(args);
const actor = actorOf(args);
const headers = actor === undefined ? {} : actorHeaders(actor).headers;

function fail(err: unknown): never {
  console.error("history:", err instanceof Error ? err.message : err);
  process.exit(1);
}

if (args.undo) {
  try {
    const r = await undo(client, {
      headers,
      overwrite: args.overwrite,
      ...(args.session !== undefined ? { sessionId: args.session } : {}),
    });
    const ev = r.change!;
    const cells = ev.changes.reduce((n, sc) => n + sc.cells.length, 0);
    console.log(`undid revision ${ev.revertsRevision}: revision ${ev.revision} by "${ev.actor}" (${cells} cells changed)`);
  } catch (err) {
    const who = `"${actor ?? "you"}"${args.session !== undefined ? ` in session "${args.session}"` : ""}`;
    if (isNothingToUndo(err)) {
      console.log(`nothing to undo for ${who}`);
      process.exit(3);
    }
    const conflicts = conflictingRevisions(err);
    if (conflicts !== undefined) {
      const target = errorInfo(err)?.metadata["revision"] ?? "?";
      console.log(`conflict: revisions ${conflicts.join(", ")} changed what revision ${target} of ${who} changed ` +
        "(--overwrite undoes it anyway)");
      process.exit(3);
    }
    fail(err);
  }
}

const { sheet, column, measure, path } = await findCell(client, args).catch(fail);

function describe(e: HistoryEntry): string {
  const when = e.commitTime?.toISOString() ?? "(no time)";
  let line = `revision ${e.revision} at ${when} by "${e.actor}": "${e.before}" -> "${e.after}"`;
  if (e.revertsRevision !== 0n) line += ` (reverts revision ${e.revertsRevision})`;
  if (e.sessionId !== "") line += ` session "${e.sessionId}"`;
  if (e.requestId !== "") line += ` request "${e.requestId}"`;
  if (e.revertedBy !== 0n) line += ` [reverted by revision ${e.revertedBy}]`;
  return line;
}

console.log(`who changed ${sheet} [${formatPath(path)}] ${column} ${measure} (newest first):`);
let n = 0;
try {
  for await (const e of cellHistory(client, cell(sheet, path, column, measure), limit > 0 ? { limit } : {})) {
    console.log(`  ${describe(e)}`);
    n++;
  }
} catch (err) {
  fail(err);
}
if (n === 0) console.log("  no revisions");
