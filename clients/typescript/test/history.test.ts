// History and undo against the real server: a cell's history (ListRevisions
// with the cell filter, paged), Undo scoped to a session, GetSheet at a past
// revision, revert conflicts, a watcher following reverts, and the history example.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  type CellRef,
  type ChangeEvent,
  ERROR_DOMAIN,
  type GridClient,
  LocalGrid,
  MAX_SESSION_ID_LENGTH,
  REASON_HEAD_MOVED,
  REASON_NOTHING_TO_UNDO,
  REASON_REVISION_CONFLICT,
  REASON_REVISION_OUT_OF_RANGE,
  SESSION_HEADER,
  ACTOR_HEADER,
  SheetWatcher,
  actorHeaders,
  cell,
  conflictingRevisions,
  connect,
  errorInfo,
  firstLeaf,
  headMoved,
  isNothingToUndo,
  listCellHistory,
  newSessionId,
  revert,
  revisionRange,
  sessionHeaders,
  undo,
} from "../src/index.js";
import { Index, PRODUCT, type Server, fromUnits, startServer, units, waitFor } from "./support.js";

let server: Server;
let client: GridClient;
let leaf: string[];

before(async () => {
  server = await startServer();
  client = connect(server.addr);
  leaf = [...firstLeaf((await client.getSheet({ name: PRODUCT, columns: ["total"], measures: ["quantity"] })).grid!).path];
});
after(async () => {
  await server?.stop();
});

/** The cell's value, now or at `revision`. */
async function read(ref: CellRef, revision = 0n): Promise<string> {
  const grid = (await client.getSheet({ name: ref.sheet, rowPath: ref.rowPath, columns: [ref.column], measures: [ref.measure], revision: revision === 0n ? undefined : revision })).grid;
  assert.ok(grid, "GetSheet returned no grid");
  if (revision !== 0n) assert.equal(grid.revision, revision, "GetSheet(revision) reports that revision");
  return new Index(grid).value(ref.rowPath, ref.column, ref.measure);
}

async function head(): Promise<bigint> {
  return (await client.getSheet({ name: PRODUCT, columns: ["total"], measures: ["quantity"], rowPath: leaf })).grid!.revision;
}

/** Writes `value`, returning the revision. */
async function write(ref: CellRef, value: string, headers: { headers: Record<string, string> }, requestId = ""): Promise<bigint> {
  const resp = await client.updateCell({ edit: { cell: ref, value }, requestId }, headers);
  assert.equal(resp.result?.newValue, value);
  return resp.revision;
}

/** The error `p` rejects with, which must be a ConnectError with `code` and ErrorInfo `reason`. */
async function rejection(p: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConnectError, `expected a ConnectError, got ${String(caught)}`);
  assert.equal(caught.code, code, `${Code[caught.code]}: ${caught.rawMessage}`);
  if (reason !== undefined) {
    const info = errorInfo(caught);
    assert.ok(info, `${Code[code]} without google.rpc.ErrorInfo`);
    assert.equal(info.domain, ERROR_DOMAIN);
    assert.equal(info.reason, reason);
  }
  return caught;
}

/** [previousValue, value] of a cell change. */
function pair(c: { value: string; previousValue: string } | undefined): [string, string] | undefined {
  return c === undefined ? undefined : [c.previousValue, c.value];
}

/** The event's change of `ref`. */
function changeOf(ev: ChangeEvent | undefined, ref: CellRef): { value: string; previousValue: string } | undefined {
  return ev?.changes
    .filter((sc) => sc.sheet === ref.sheet)
    .flatMap((sc) => sc.cells)
    .find((c) => c.column === ref.column && c.measure === ref.measure && JSON.stringify(c.rowPath) === JSON.stringify(ref.rowPath));
}

describe("history and undo", () => {
  it("sessionHeaders", () => {
    assert.deepEqual(sessionHeaders("s-1"), { headers: { [SESSION_HEADER]: "s-1" } });
    assert.deepEqual(sessionHeaders("s-1", "alice"), { headers: { [SESSION_HEADER]: "s-1", [ACTOR_HEADER]: "alice" } });
    sessionHeaders("x".repeat(MAX_SESSION_ID_LENGTH));
    for (const bad of ["", "x".repeat(MAX_SESSION_ID_LENGTH + 1), "a\nb", "caf\u00e9"]) {
      assert.throws(() => sessionHeaders(bad), /session id/, JSON.stringify(bad));
    }
    assert.notEqual(newSessionId(), newSessionId());
    assert.match(newSessionId(), /^[\x20-\x7e]{1,128}$/);
  });

  it("cellHistory, undo twice within a session, then nothing to undo", async () => {
    const actor = "ts-history";
    const session = newSessionId();
    const ref = cell(PRODUCT, leaf, "2024-02", "quantity");
    const head0 = await head();
    const v0 = await read(ref);
    const v1 = fromUnits(units(v0, 0) + 11n, 0);
    const v2 = fromUnits(units(v0, 0) + 22n, 0);
    const md = sessionHeaders(session, actor);
    const r1 = await write(ref, v1, md, "h-1");
    const r2 = await write(ref, v2, md, "h-2");
    assert.deepEqual([r1, r2], [head0 + 1n, head0 + 2n]);

    let entries = await listCellHistory(client, ref);
    assert.deepEqual(entries.map((e) => e.revision), [r2, r1], "newest first");
    const [e2, e1] = entries as [(typeof entries)[0], (typeof entries)[0]];
    assert.deepEqual([e2.before, e2.after, e1.before, e1.after], [v1, v2, v0, v1]);
    for (const [e, req] of [[e2, "h-2"], [e1, "h-1"]] as const) {
      assert.equal(e.actor, actor);
      assert.equal(e.sessionId, session);
      assert.equal(e.requestId, req);
      assert.equal(e.revertsRevision, 0n);
      assert.equal(e.revertedBy, 0n);
      assert.ok(e.commitTime instanceof Date && !Number.isNaN(e.commitTime.getTime()), "commit time");
      assert.equal(e.raw.change?.revision, e.revision);
    }
    assert.ok(e2.commitTime!.getTime() >= e1.commitTime!.getTime());
    // Paging, limits, order and filters.
    assert.deepEqual((await listCellHistory(client, ref, { pageSize: 1 })).map((e) => e.revision), [r2, r1]);
    assert.deepEqual((await listCellHistory(client, ref, { limit: 1 })).map((e) => e.revision), [r2]);
    assert.deepEqual((await listCellHistory(client, ref, { oldestFirst: true })).map((e) => e.revision), [r1, r2]);
    assert.deepEqual((await listCellHistory(client, ref, { startRevision: r1 })).map((e) => e.revision), [r1]);
    assert.deepEqual(await listCellHistory(client, ref, { actor: "someone-else" }), []);
    assert.deepEqual(await listCellHistory(client, cell(PRODUCT, leaf, "2024-02", "net_amount")), [], "another measure of the cell");

    // GetRevision: every changed cell with its value before and after.
    const got = (await client.getRevision({ revision: r1 })).revision;
    assert.equal(got?.change?.revision, r1);
    assert.equal(got?.change?.sessionId, session);
    assert.deepEqual(pair(changeOf(got?.change, ref)), [v0, v1], "GetRevision: the cell before and after");

    const mine = actorHeaders(actor).headers;
    const other = await rejection(undo(client, { sessionId: newSessionId(), headers: mine }), Code.FailedPrecondition, REASON_NOTHING_TO_UNDO);
    assert.ok(isNothingToUndo(other));

    const u1 = await undo(client, { sessionId: session, headers: mine, requestId: "h-undo-1" });
    assert.equal(u1.change?.revertsRevision, r2);
    assert.equal(u1.change?.revision, r2 + 1n);
    assert.equal(u1.change?.actor, actor);
    assert.deepEqual(u1.change?.edits, [], "a revert has no edits");
    assert.deepEqual(pair(changeOf(u1.change, ref)), [v2, v1], "the undo's change of the cell, before and after");
    assert.equal(await read(ref), v1);
    assert.equal(await read(ref, r2), v2);
    assert.equal(await read(ref, r1), v1);

    entries = await listCellHistory(client, ref);
    assert.deepEqual(entries.map((e) => [e.revision, e.before, e.after, e.revertsRevision, e.revertedBy]), [
      [u1.change!.revision, v2, v1, r2, 0n],
      [r2, v1, v2, 0n, u1.change!.revision],
      [r1, v0, v1, 0n, 0n],
    ]);
    assert.equal(entries[0]?.requestId, "h-undo-1");

    const u2 = await undo(client, { sessionId: session, headers: mine });
    assert.equal(u2.change?.revertsRevision, r1, "the second undo takes back the first write");
    assert.equal(await read(ref), v0);
    assert.equal(await read(ref, r1), v1, "GetSheet at the first write reads the first value");
    assert.equal(await read(ref, r2), v2);
    assert.equal(await read(ref, u1.change!.revision), v1);
    entries = await listCellHistory(client, ref);
    assert.deepEqual(entries.map((e) => [e.revision, e.revertedBy]), [
      [u2.change!.revision, 0n],
      [u1.change!.revision, 0n],
      [r2, u1.change!.revision],
      [r1, u2.change!.revision],
    ]);

    const none = await rejection(undo(client, { sessionId: session, headers: mine }), Code.FailedPrecondition, REASON_NOTHING_TO_UNDO);
    assert.ok(isNothingToUndo(none));
    await rejection(undo(client, { headers: mine }), Code.FailedPrecondition, REASON_NOTHING_TO_UNDO);
  });

  it("reverting a revision a later one touched: REVISION_CONFLICT; HEAD_MOVED; overwrite", async () => {
    const ref = cell(PRODUCT, leaf, "2024-03", "quantity");
    const v0 = await read(ref);
    const ra = await write(ref, fromUnits(units(v0, 0) + 5n, 0), actorHeaders("ts-conflict-a"));
    const rb = await write(ref, fromUnits(units(v0, 0) + 6n, 0), actorHeaders("ts-conflict-b"));

    for (const attempt of [() => revert(client, ra), () => undo(client, { headers: actorHeaders("ts-conflict-a").headers })]) {
      const err = await rejection(attempt(), Code.Aborted, REASON_REVISION_CONFLICT);
      assert.deepEqual(conflictingRevisions(err), [rb]);
      assert.equal(errorInfo(err)?.metadata["conflicting_revisions"], String(rb));
      assert.equal(errorInfo(err)?.metadata["revision"], String(ra));
      assert.equal(headMoved(err), undefined);
    }
    assert.equal(await head(), rb, "a refused revert changes nothing");

    const moved = await rejection(revert(client, ra, { overwrite: true, expectedHead: rb - 1n }), Code.Aborted, REASON_HEAD_MOVED);
    assert.equal(headMoved(moved), rb);
    assert.equal(conflictingRevisions(moved), undefined);

    const r = await revert(client, ra, { overwrite: true, expectedHead: rb });
    assert.equal(r.change?.revertsRevision, ra);
    assert.equal(r.change?.revision, rb + 1n);
    assert.equal(await read(ref), v0, "overwrite restores the value before the reverted revision");
    const [latest] = await listCellHistory(client, ref, { limit: 1 });
    assert.equal(latest?.revertsRevision, ra);
    // Reverting the revert restores what it took back: the value just before it (rb's).
    const rr = await revert(client, r.change!.revision);
    assert.equal(rr.change?.revertsRevision, r.change!.revision);
    assert.equal(await read(ref), fromUnits(units(v0, 0) + 6n, 0));
  });

  it("revisions out of range", async () => {
    const h = await head();
    const err = await rejection(client.getSheet({ name: PRODUCT, revision: h + 10n }), Code.OutOfRange, REASON_REVISION_OUT_OF_RANGE);
    assert.equal(revisionRange(err)?.head, h);
    await rejection(client.getRevision({ revision: h + 10n }), Code.NotFound);
    await rejection(revert(client, h + 10n), Code.NotFound);
    assert.equal(await head(), h);
  });

  it("a watcher's copy follows undo", async () => {
    const actor = "ts-history-watch";
    const ref = cell(PRODUCT, leaf, "2024-04", "quantity");
    const watcher = new SheetWatcher(client, PRODUCT, { minBackoffMs: 20 });
    const reverts: bigint[] = [];
    let failure: unknown;
    const running = (async () => {
      try {
        for await (const u of watcher.updates()) if (u.change !== undefined && u.change.revertsRevision !== 0n) reverts.push(u.change.revertsRevision);
      } catch (e) {
        failure = e;
      }
    })();
    try {
      await waitFor("the snapshot", () => watcher.revision >= 0n || failure !== undefined);
      const v0 = await read(ref);
      const r = await write(ref, fromUnits(units(v0, 0) + 3n, 0), actorHeaders(actor));
      const u = await undo(client, { headers: actorHeaders(actor).headers });
      assert.equal(u.change?.revertsRevision, r);
      await waitFor("the undo", () => watcher.revision >= u.change!.revision || failure !== undefined);
      assert.equal(failure, undefined);
      assert.deepEqual(reverts, [r]);
      assert.equal(watcher.grid?.value(ref.rowPath, ref.column, ref.measure), v0);
      assert.deepEqual(watcher.grid?.diff(new LocalGrid((await client.getSheet({ name: PRODUCT })).grid!)), []);
    } finally {
      watcher.stop();
      await running;
    }
  });

  it("example: history and --undo", async () => {
    const actor = "ts-example-history";
    const ref = cell(PRODUCT, leaf, "2024-09", "quantity");
    const v0 = await read(ref);
    const [v1, v2] = [fromUnits(units(v0, 0) + 1n, 0), fromUnits(units(v0, 0) + 2n, 0)];
    const r1 = await write(ref, v1, sessionHeaders("ex-session", actor));
    const r2 = await write(ref, v2, sessionHeaders("ex-session", actor));
    const flags = ["--addr", server.addr, "--sheet", PRODUCT, "--column", "2024-09", "--measure", "quantity"];

    let out = await example([...flags]);
    assert.equal(out.code, 0, out.stderr);
    let lines = out.stdout.trimEnd().split("\n");
    assert.ok(lines[0]?.startsWith(`who changed ${PRODUCT} [`), lines[0]);
    assert.match(lines[1] ?? "", new RegExp(`^  revision ${r2} at \\S+ by "${actor}": "${v1}" -> "${v2}" session "ex-session"$`));
    assert.match(lines[2] ?? "", new RegExp(`^  revision ${r1} at \\S+ by "${actor}": "${v0}" -> "${v1}"`));

    out = await example([...flags, "--undo", "--actor", actor, "--session", "ex-session", "--limit", "2"]);
    assert.equal(out.code, 0, out.stderr);
    lines = out.stdout.trimEnd().split("\n");
    const undone = r2 + 1n;
    assert.match(lines[0] ?? "", new RegExp(`^undid revision ${r2}: revision ${undone} by "${actor}" \\([1-9]\\d* cells changed\\)$`));
    assert.match(lines[2] ?? "", new RegExp(`^  revision ${undone} at \\S+ by "${actor}": "${v2}" -> "${v1}" \\(reverts revision ${r2}\\)`));
    assert.match(lines[3] ?? "", new RegExp(`^  revision ${r2} .* \\[reverted by revision ${undone}\\]$`));
    assert.equal(lines.length, 4, "--limit 2");
    assert.equal(await read(ref), v1);

    out = await example(["--addr", server.addr, "--undo", "--actor", "ts-nobody"]);
    assert.equal(out.code, 3, out.stderr);
    assert.ok(out.stdout.startsWith('nothing to undo for "ts-nobody"'), out.stdout);

    out = await example(["--addr", server.addr]); // the first sheet, leaf row, month and measure
    assert.equal(out.code, 0, out.stderr);
    assert.ok(out.stdout.startsWith("who changed sheets/"), out.stdout);
  });
});

/** Runs dist/examples/history.js with `args`: its exit code and output. */
function example(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const path = fileURLToPath(new URL("../examples/history.js", import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [path, ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}
