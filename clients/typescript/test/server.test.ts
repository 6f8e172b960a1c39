// The TypeScript client against the real server: every RPC, the spread, the
// compare-and-set conflict, watching with resume, and the examples.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  type CellRef,
  type ChangeEvent,
  type Grid,
  type GridClient,
  LocalGrid,
  REASON_EXPECTED_VALUE_MISMATCH,
  ERROR_DOMAIN,
  SheetWatcher,
  type Sheet,
  TOTAL_COLUMN,
  type UpdateCellResponse,
  type WatchUpdatesResponse,
  actorHeaders,
  cell,
  connect,
  currentValue,
  errorInfo,
  firstLeaf,
} from "../src/index.js";
import { Index, PRODUCT, REGION, type Server, fromUnits, runExample, startServer, units, waitFor } from "./support.js";

let server: Server;
let client: GridClient;

before(async () => {
  server = await startServer();
  client = connect(server.addr);
});
after(async () => {
  await server?.stop();
});

async function get(name: string, narrow: { rowPath?: string[]; columns?: string[]; measures?: string[] } = {}): Promise<Grid> {
  const grid = (await client.getSheet({ name, ...narrow })).grid;
  assert.ok(grid, "GetSheet returned no grid");
  return grid;
}

async function update(ref: CellRef, value: string, actor = "ts-test", extra: { expectedValue?: string } = {}): Promise<UpdateCellResponse> {
  return client.updateCell({ edit: { cell: ref, value, ...extra } }, actorHeaders(actor));
}

describe("GridService", () => {
  it("ListSheets", async () => {
    const resp = await client.listSheets({});
    const sheets = new Map(resp.sheets.map((s) => [s.name, s]));
    for (const [name, levels] of [[PRODUCT, ["supplier", "brand", "family"]], [REGION, ["province", "city"]]] as const) {
      const s = sheets.get(name);
      assert.ok(s, `no ${name}`);
      assert.deepEqual(s.rowLevels.map((l) => l.name), levels);
      assert.ok(s.rowLevels.every((l) => l.memberCount > 0n));
      const keys = s.columns.map((c) => c.key);
      assert.equal(keys.length, 25);
      assert.equal(keys[0], "2024-01");
      assert.equal(keys[23], "2025-12");
      assert.equal(keys[24], TOTAL_COLUMN);
      assert.ok(s.columns[24]?.total && !s.columns[0]?.total);
      assert.deepEqual([s.columns[2]?.periodStart, s.columns[2]?.periodEnd], ["2024-03-01", "2024-04-01"]);
      const measures = new Map(s.measures.map((m) => [m.name, m]));
      assert.equal(measures.get("quantity")?.scale, 0);
      assert.equal(measures.get("quantity")?.minValue, "0");
      assert.equal(measures.get("net_amount")?.scale, 2);
      assert.ok(s.rowCount > 1n);
    }
    const paged: string[] = [];
    let token = "";
    for (let i = 0; i < 10; i++) {
      const page = await client.listSheets({ pageSize: 1, pageToken: token });
      assert.equal(page.sheets.length, 1);
      paged.push(page.sheets[0]!.name);
      token = page.nextPageToken;
      if (token === "") break;
    }
    assert.deepEqual(paged, resp.sheets.map((s) => s.name));
  });

  it("GetSheet", async () => {
    for (const sheet of (await client.listSheets({})).sheets) checkGrid(sheet, await get(sheet.name));

    const full = await get(PRODUCT);
    const top = firstLeaf(full).path.slice(0, 1);
    const narrow = await get(PRODUCT, { rowPath: top, columns: ["2024-03", "total"], measures: ["quantity"] });
    assert.deepEqual(narrow.columns, ["2024-03", "total"]);
    assert.deepEqual(narrow.rows[0]?.path, top);
    const fix = new Index(full);
    for (const row of narrow.rows) {
      assert.deepEqual(row.path.slice(0, 1), top);
      assert.deepEqual(row.measures.map((m) => m.measure), ["quantity"]);
      if (narrow.revision === full.revision) {
        narrow.columns.forEach((col, i) => assert.equal(row.measures[0]?.values[i], fix.value(row.path, col, "quantity")));
      }
    }
    await assert.rejects(get("sheets/no_such_sheet"), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
  });

  it("UpdateCell on a leaf", async () => {
    const before = await get(PRODUCT);
    const regionBefore = await get(REGION);
    const path = firstLeaf(before).path;
    const [col, m] = ["2024-03", "net_amount"];
    const bix = new Index(before);
    const old = bix.value(path, col, m);
    const v = old === "4321.09" ? "4321.10" : "4321.09";
    const delta = units(v, 2) - units(old, 2);

    const resp = await update(cell(PRODUCT, path, col, m), v);
    assert.equal(resp.revision, before.revision + 1n);
    assert.equal(resp.result?.previousValue, old);
    assert.equal(resp.result?.newValue, v);
    assert.ok((resp.result?.factsChanged ?? 0n) > 0n);
    const changed = new Map<string, string>();
    for (const sc of resp.changes) for (const c of sc.cells) changed.set(JSON.stringify([sc.sheet, c.rowPath, c.column, c.measure]), c.value);
    assert.equal(changed.get(JSON.stringify([PRODUCT, path, col, m])), v);
    assert.ok(changed.has(JSON.stringify([REGION, [], col, m])), "one edit changes every sheet");

    const after = await get(PRODUCT);
    const aix = new Index(after);
    assert.equal(aix.value(path, col, m), v);
    for (let depth = path.length; depth >= 0; depth--) {
      const p = path.slice(0, depth);
      for (const c of [col, TOTAL_COLUMN]) {
        assert.equal(units(aix.value(p, c, m), 2), units(bix.value(p, c, m), 2) + delta, `${JSON.stringify(p)} ${c}`);
      }
      assert.equal(changed.get(JSON.stringify([PRODUCT, p, col, m])), aix.value(p, col, m));
    }
    const regionAfter = await get(REGION);
    assert.equal(units(new Index(regionAfter).value([], col, m), 2), units(new Index(regionBefore).value([], col, m), 2) + delta);
    assert.deepEqual(regionAfter.rows[0]?.measures, after.rows[0]?.measures, "both sheets' grand totals agree");
  });

  it("UpdateCell on a subtotal spreads proportionally", async () => {
    // quantity: doubling is exact, so every child doubles exactly.
    let before = await get(PRODUCT);
    let [parent, col] = spreadTarget(before, 3, "quantity");
    let bix = new Index(before);
    let v = fromUnits(2n * units(bix.value(parent, col, "quantity"), 0), 0);
    assert.equal((await update(cell(PRODUCT, parent, col, "quantity"), v)).result?.newValue, v);
    let aix = new Index(await get(PRODUCT));
    assert.equal(aix.value(parent, col, "quantity"), v);
    let sum = 0n;
    for (const k of bix.children(parent)) {
      const a = units(aix.value(k, col, "quantity"), 0);
      sum += a;
      assert.equal(a, 2n * units(bix.value(k, col, "quantity"), 0), JSON.stringify(k));
    }
    assert.equal(sum, units(v, 0));

    // net_amount: an awkward factor; exactly V, children sum to V, shares kept within rounding.
    before = await get(PRODUCT);
    [parent, col] = spreadTarget(before, 3, "net_amount");
    bix = new Index(before);
    const old = units(bix.value(parent, col, "net_amount"), 2);
    const target = (old * 137n) / 100n + 1n; // ~1.37 x old + 0.01, in cents
    v = fromUnits(target, 2);
    const resp = await update(cell(PRODUCT, parent, col, "net_amount"), v);
    assert.equal(resp.result?.newValue, v);
    aix = new Index(await get(PRODUCT));
    assert.equal(aix.value(parent, col, "net_amount"), v);
    // Each fact is rounded by < 1 cent, so a child is off its exact share by < (its facts) cents:
    // |a - b*V/old| <= facts_changed  <=>  |a*old - b*V| <= facts_changed*|old|.
    const facts = resp.result?.factsChanged ?? 1n;
    const tol = (facts > 0n ? facts : 1n) * (old < 0n ? -old : old);
    sum = 0n;
    for (const k of bix.children(parent)) {
      const b = units(bix.value(k, col, "net_amount"), 2);
      const a = units(aix.value(k, col, "net_amount"), 2);
      sum += a;
      const dev = a * old - b * target;
      assert.ok((dev < 0n ? -dev : dev) <= tol, `child ${JSON.stringify(k)}: ${b} -> ${a} cents, exact share ${Number(b * target) / Number(old)}`);
      if (b === 0n) assert.equal(a, 0n, `child ${JSON.stringify(k)} was zero`);
    }
    assert.equal(sum, target, "children sum to exactly V");
    assert.equal(
      units(aix.value(parent, TOTAL_COLUMN, "net_amount"), 2),
      units(bix.value(parent, TOTAL_COLUMN, "net_amount"), 2) + target - old,
    );
  });

  it("compare-and-set conflict is ABORTED with the current value", async () => {
    const before = await get(PRODUCT);
    const ref = cell(PRODUCT, firstLeaf(before).path, "2024-05", "quantity");
    const cur = new Index(before).value(ref.rowPath, ref.column, ref.measure);
    const wrong = fromUnits(units(cur, 0) + 1n, 0);
    const next = fromUnits(units(cur, 0) + 5n, 0);

    let caught: unknown;
    try {
      await update(ref, next, "ts-test", { expectedValue: wrong });
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConnectError, `expected a ConnectError, got ${String(caught)}`);
    assert.equal(caught.code, Code.Aborted);
    const info = errorInfo(caught);
    assert.ok(info, "ABORTED without google.rpc.ErrorInfo in grpc-status-details-bin");
    assert.equal(info.reason, REASON_EXPECTED_VALUE_MISMATCH);
    assert.equal(info.domain, ERROR_DOMAIN);
    assert.equal(currentValue(caught), cur);
    assert.equal((await get(PRODUCT)).revision, before.revision, "a rejected write changes nothing");

    assert.equal((await update(ref, next, "ts-test", { expectedValue: cur })).result?.newValue, next);
  });

  it("WatchUpdates: snapshot, changes, drop and resume from last revision + 1", async () => {
    const leaf = firstLeaf(await get(PRODUCT)).path;
    const write = async (col: string, v: string): Promise<bigint> =>
      (await update(cell(PRODUCT, leaf, col, "quantity"), v, "ts-watch")).revision;
    const nextChange = async (it: AsyncIterator<WatchUpdatesResponse>): Promise<ChangeEvent> => {
      for (;;) {
        const r = await it.next();
        assert.ok(!r.done, "stream ended");
        assert.notEqual(r.value.kind.case, "snapshot", "unexpected snapshot");
        if (r.value.kind.case === "change") return r.value.kind.value;
      }
    };

    const drop = new AbortController();
    let stream = client.watchUpdates({ sheet: PRODUCT, sendSnapshot: true }, { signal: drop.signal })[Symbol.asyncIterator]();
    const first = await stream.next();
    assert.ok(!first.done && first.value.kind.case === "snapshot", "first message is a snapshot");
    const snap = first.value.kind.value;
    const local = new LocalGrid(snap);
    const now = await get(PRODUCT);
    if (now.revision === snap.revision) assert.deepEqual(local.diff(new LocalGrid(now)), []);

    const r1 = await write("2024-06", "11");
    let ev = await nextChange(stream);
    assert.equal(ev.revision, snap.revision + 1n);
    assert.equal(ev.revision, r1);
    assert.equal(ev.actor, "ts-watch");
    assert.equal(ev.edits.length, 1);
    assert.equal(ev.edits[0]?.value, "11");
    assert.equal(ev.results.length, 1);
    local.apply(ev);
    assert.equal(local.value(leaf, "2024-06", "quantity"), "11");

    drop.abort(); // drop the stream; two writes happen while nobody watches
    await stream.return?.().catch(() => undefined);
    const r2 = await write("2024-07", "12");
    const r3 = await write("2024-08", "13");
    assert.deepEqual([r2, r3], [r1 + 1n, r1 + 2n]);

    const done = new AbortController();
    stream = client.watchUpdates({ sheet: PRODUCT, startRevision: r1 + 1n }, { signal: done.signal })[Symbol.asyncIterator]();
    try {
      for (const want of [r2, r3]) {
        ev = await nextChange(stream);
        assert.equal(ev.revision, want);
        local.apply(ev);
      }
      for (;;) {
        // nothing else pending: next comes a heartbeat at head r3
        const r = await stream.next();
        assert.ok(!r.done);
        assert.notEqual(r.value.kind.case, "change", "extra change");
        if (r.value.kind.case === "progress") {
          assert.equal(r.value.kind.value.headRevision, r3);
          break;
        }
      }
    } finally {
      done.abort();
      await stream.return?.().catch(() => undefined);
    }
    const head = await get(PRODUCT);
    assert.equal(head.revision, r3);
    assert.deepEqual(local.diff(new LocalGrid(head)), []);
  });

  it("SheetWatcher keeps a local copy current across drops", async () => {
    const leaf = firstLeaf(await get(PRODUCT)).path;
    const watcher = new SheetWatcher(client, PRODUCT, { minBackoffMs: 20 });
    let failure: unknown;
    const running = (async () => {
      try {
        for await (const _ of watcher.updates()) {
          // the watcher keeps its copy; nothing to do per update
        }
      } catch (e) {
        failure = e;
      }
    })();
    try {
      await waitFor("the snapshot", () => watcher.revision >= 0n || failure !== undefined);
      const ra = (await update(cell(PRODUCT, leaf, "2025-01", "net_amount"), "100.00", "ts-watcher")).revision;
      await waitFor("revision A", () => watcher.revision >= ra || failure !== undefined);
      assert.equal(watcher.grid?.value(leaf, "2025-01", "net_amount"), "100.00");

      watcher.dropStream();
      await update(cell(PRODUCT, leaf.slice(0, 1), "2025-02", "net_amount"), "5000.00", "ts-watcher");
      const rc = (await update(cell(PRODUCT, [], "2025-03", "quantity"), "9000", "ts-watcher")).revision;
      await waitFor("revision C", () => watcher.revision >= rc || failure !== undefined);
      assert.equal(failure, undefined);
      assert.deepEqual(watcher.grid?.diff(new LocalGrid(await get(PRODUCT))), []);
      assert.ok(watcher.reconnects >= 1);
    } finally {
      watcher.stop();
      await running;
    }
    assert.equal(failure, undefined);
  });

  it("examples: watch and update", async () => {
    const dist = fileURLToPath(new URL("../examples/", import.meta.url));
    const watch = runExample("watch", ["--addr", server.addr, "--changes", "1"]);
    try {
      const first = await watch.lines.next();
      assert.ok(!first.done && first.value.startsWith(`snapshot ${PRODUCT} at revision `), `watch printed ${String(first.value)} ${watch.stderr()}`);
      const revision = (await get(PRODUCT, { columns: ["total"], measures: ["quantity"] })).revision;

      const { stdout } = await promisify(execFile)(process.execPath, [
        `${dist}update.js`, "--addr", server.addr, "--column", "2024-10", "--measure", "net_amount",
        "--value", "321.00", "--actor", "ts-example-test",
      ]);
      assert.ok(stdout.includes('-> "321.00"'), stdout);

      const next = await watch.lines.next();
      assert.ok(!next.done && next.value.startsWith(`revision ${revision + 1n} by "ts-example-test"`), String(next.value));
      assert.equal(await watch.exited, 0, watch.stderr());
    } finally {
      watch.kill();
    }
  });
});

function spreadTarget(grid: Grid, depth: number, measure: string): [string[], string] {
  const ix = new Index(grid);
  for (const row of grid.rows) {
    if (row.path.length !== depth - 1) continue;
    for (const col of grid.columns.slice(0, -1)) {
      const nonZero = ix.children(row.path).filter((k) => units(ix.value(k, col, measure), 2) !== 0n).length;
      if (nonZero >= 2) return [[...row.path], col];
    }
  }
  throw new Error(`no subtotal with two non-zero children for ${measure}`);
}

/** Shape, formatting, and every aggregate == sum of its children, every total == sum of months. */
function checkGrid(sheet: Sheet, grid: Grid): void {
  const keys = sheet.columns.map((c) => c.key);
  assert.equal(grid.sheet, sheet.name);
  assert.deepEqual(grid.columns, keys);
  assert.equal(BigInt(grid.rows.length), sheet.rowCount);
  assert.deepEqual(grid.rows[0]?.path, [], "first row is the grand total");
  const depth = sheet.rowLevels.length;
  const scales = new Map(sheet.measures.map((m) => [m.name, m.scale]));
  const ix = new Index(grid);
  const seen = new Set<string>();
  for (const row of grid.rows) {
    const p = row.path;
    assert.equal(row.leaf, p.length === depth, JSON.stringify(p));
    if (p.length > 0) assert.ok(seen.has(JSON.stringify(p.slice(0, -1))), `${JSON.stringify(p)} precedes its parent`);
    seen.add(JSON.stringify(p));
    assert.equal(row.measures.length, sheet.measures.length);
    for (const mv of row.measures) {
      const scale = scales.get(mv.measure) ?? 0;
      const re = new RegExp(`^-?\\d+${scale > 0 ? `\\.\\d{${scale}}` : ""}$`);
      assert.equal(mv.values.length, keys.length);
      for (const v of mv.values) assert.ok(v === "" || re.test(v), `${JSON.stringify(p)} ${mv.measure}: ${v} (scale ${scale})`);
      const months = mv.values.slice(0, -1).reduce((s, v) => s + units(v, scale), 0n);
      assert.equal(units(mv.values.at(-1) ?? "", scale), months, `${sheet.name} ${JSON.stringify(p)} ${mv.measure}: total != sum of months`);
      if (row.leaf) continue;
      const kids = ix.children(p);
      keys.forEach((col, i) => {
        const vals = kids.map((k) => ix.value(k, col, mv.measure));
        const v = mv.values[i] ?? "";
        assert.equal(units(v, scale), vals.reduce((s, x) => s + units(x, scale), 0n), `${JSON.stringify(p)} ${mv.measure} ${col} != sum of children`);
        assert.equal(v === "", vals.every((x) => x === ""), `${JSON.stringify(p)} ${col}: empty iff all children empty`);
      });
    }
  }
}
