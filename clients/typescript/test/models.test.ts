// The client against servers of the example models (examples/budget and
// examples/retail, served with --model): column kinds with quarter and year
// subtotals, levels of two dimensions, filters, captions, ragged rows, and a
// watched copy of a sheet with quarter columns after a write to a quarter.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import {
  ColumnKind,
  type Grid,
  type GridClient,
  LocalGrid,
  SheetWatcher,
  type Sheet,
  TOTAL_COLUMN,
  actorHeaders,
  cell,
  connect,
  firstLeaf,
  firstMonthColumn,
  formatPath,
  listSheets,
  monthColumns,
} from "../src/index.js";
import { Index, type Server, exampleModel, runExample, startServer, units, waitFor } from "./support.js";

const BY_ACCOUNT = "sheets/budget_by_account";
const BY_COST_CENTRE = "sheets/budget_by_cost_centre";
const DEPARTMENTS = "sheets/departments_by_account_group";
const BY_STORE = "sheets/revenue_by_store";
const CATEGORIES = "sheets/categories_by_region";
const ONLINE = "sheets/online_by_product";

let budgetServer: Server;
let retailServer: Server;
let budget: GridClient;
let retail: GridClient;

before(async () => {
  [budgetServer, retailServer] = await Promise.all([
    startServer({ model: exampleModel("budget") }),
    startServer({ model: exampleModel("retail") }),
  ]);
  budget = connect(budgetServer.addr);
  retail = connect(retailServer.addr);
});
after(async () => {
  await Promise.all([budgetServer?.stop(), retailServer?.stop()]);
});

async function get(client: GridClient, name: string): Promise<Grid> {
  const grid = (await client.getSheet({ name })).grid;
  assert.ok(grid, "GetSheet returned no grid");
  return grid;
}

async function sheetsByName(client: GridClient): Promise<Map<string, Sheet>> {
  return new Map((await listSheets(client)).map((s) => [s.name, s]));
}

describe("example models", () => {
  it("budget: Column.kind with quarter and year subtotals", async () => {
    const sheets = await sheetsByName(budget);
    assert.deepEqual([...sheets.keys()], [BY_ACCOUNT, BY_COST_CENTRE, DEPARTMENTS], "model order");
    const s = sheets.get(BY_ACCOUNT)!;
    const keys = s.columns.map((c) => c.key);
    const cols = new Map(s.columns.map((c) => [c.key, c]));
    // Each quarter after its months, each year after its last quarter, the total last.
    assert.deepEqual(keys.slice(0, 5), ["2025-01", "2025-02", "2025-03", "2025-Q1", "2025-04"]);
    const dec2025 = keys.indexOf("2025-12");
    assert.deepEqual(keys.slice(dec2025, dec2025 + 3), ["2025-12", "2025-Q4", "2025"]);
    assert.deepEqual(keys.slice(-3), ["2026-Q4", "2026", TOTAL_COLUMN]);
    assert.equal(keys.length, 24 + 8 + 2 + 1);

    const period = (key: string) => {
      const c = cols.get(key);
      assert.ok(c, `no column ${key}`);
      return [c.kind, c.periodStart, c.periodEnd, c.total];
    };
    assert.deepEqual(period("2025-03"), [ColumnKind.MONTH, "2025-03-01", "2025-04-01", false]);
    assert.deepEqual(period("2025-Q1"), [ColumnKind.QUARTER, "2025-01-01", "2025-04-01", false]);
    assert.deepEqual(period("2025"), [ColumnKind.YEAR, "2025-01-01", "2026-01-01", false]);
    assert.deepEqual(period(TOTAL_COLUMN), [ColumnKind.TOTAL, "2025-01-01", "2027-01-01", true]);
    assert.equal(s.columns.at(-1)?.kind, ColumnKind.TOTAL);
    assert.deepEqual(s.columns.filter((c) => c.total || c.kind === ColumnKind.TOTAL).map((c) => c.key), [TOTAL_COLUMN]);
    assert.ok(s.columns.every((c) => c.kind !== ColumnKind.UNSPECIFIED));
    const years = [2025, 2026];
    assert.deepEqual(monthColumns(s), years.flatMap((y) => Array.from({ length: 12 }, (_, m) => `${y}-${String(m + 1).padStart(2, "0")}`)));
    assert.deepEqual(s.columns.filter((c) => c.kind === ColumnKind.QUARTER).map((c) => c.key), years.flatMap((y) => [1, 2, 3, 4].map((q) => `${y}-Q${q}`)));
    assert.equal(firstMonthColumn(s), "2025-01");

    // Years only: no quarter columns.
    const d = sheets.get(DEPARTMENTS)!;
    assert.ok(d.columns.every((c) => c.kind !== ColumnKind.QUARTER));
    assert.deepEqual(d.columns.filter((c) => c.kind === ColumnKind.YEAR).map((c) => c.key), ["2025", "2026"]);
    assert.equal(d.columns.at(-1)?.kind, ColumnKind.TOTAL);
  });

  it("budget: Level.dimension of a two-dimension sheet", async () => {
    const sheets = await sheetsByName(budget);
    const levels = (name: string) => sheets.get(name)!.rowLevels.map((l) => `${l.dimension}.${l.name}`);
    assert.deepEqual(levels(DEPARTMENTS), ["cost_centre.division", "cost_centre.department", "account.group"]);
    assert.deepEqual(levels(BY_ACCOUNT), ["account.group", "account.account"]);
    assert.deepEqual(levels(BY_COST_CENTRE), ["cost_centre.division", "cost_centre.department", "cost_centre.cost_centre"]);
    for (const s of sheets.values()) {
      assert.ok(s.rowLevels.every((l) => l.memberCount > 0n));
      assert.deepEqual(s.filters, []);
    }
    assert.deepEqual(sheets.get(DEPARTMENTS)!.measures.map((m) => m.name), ["amount"]);
    assert.deepEqual(sheets.get(BY_ACCOUNT)!.measures.map((m) => [m.name, m.scale]), [["amount", 2], ["headcount", 1]]);

    // Rows nest the second dimension: division > department > account group.
    const depth3 = (await get(budget, DEPARTMENTS)).rows.filter((r) => r.path.length === 3);
    assert.ok(depth3.length > 0 && depth3.every((r) => r.leaf));
    assert.ok(depth3.some((r) => r.path[2] === "Personnel"));
  });

  it("retail: Sheet.filters", async () => {
    const sheets = await sheetsByName(retail);
    assert.deepEqual([...sheets.keys()], [BY_STORE, CATEGORIES, ONLINE]);
    assert.deepEqual(sheets.get(ONLINE)!.filters.map((f) => [f.dimension, f.member]), [["channel", ["Online"]]]);
    assert.deepEqual(sheets.get(BY_STORE)!.filters, []);
    assert.deepEqual(sheets.get(CATEGORIES)!.filters, []);
    assert.deepEqual(sheets.get(CATEGORIES)!.rowLevels.map((l) => l.dimension), ["store", "product"]);
  });

  it("retail: Row.caption and ragged rows", async () => {
    const grid = await get(retail, BY_STORE);
    const rows = new Map(grid.rows.map((r) => [JSON.stringify(r.path), r]));
    const web = rows.get(JSON.stringify(["Online", "Web shop"]));
    assert.ok(web, "no row [Online, Web shop]");
    assert.equal(web.caption, "00099", "codes keep their leading zeros");
    // Ragged: the web shop has no district, so it is a leaf one level up.
    assert.ok(web.leaf);
    assert.equal(rows.get(JSON.stringify(["North", "Harbour", "Harbour Street"]))?.caption, "00011");
    assert.equal(rows.get(JSON.stringify(["Online"]))?.caption, "");
    assert.equal(rows.get("[]")?.caption, "");
    const local = new LocalGrid(grid);
    assert.equal(local.caption(["Online", "Web shop"]), "00099");
    assert.equal(local.caption(["Online"]), "");
    assert.equal(local.value(["Online", "Web shop"], TOTAL_COLUMN, "revenue"), new Index(grid).value(["Online", "Web shop"], TOTAL_COLUMN, "revenue"));
  });

  it("every sheet of both models adds up", async () => {
    for (const client of [budget, retail]) {
      for (const sheet of await listSheets(client)) checkModelGrid(sheet, await get(client, sheet.name));
    }
  });

  it("a watched copy with quarter columns stays equal to GetSheet after a write to a quarter", async () => {
    const watchers = [BY_ACCOUNT, DEPARTMENTS].map((name) => new SheetWatcher(budget, name, { minBackoffMs: 20 }));
    const failures: unknown[] = [];
    const running = watchers.map(async (w) => {
      try {
        for await (const _ of w.updates()) {
          // the watcher keeps its copy; nothing to do per update
        }
      } catch (e) {
        failures.push(e);
      }
    });
    try {
      for (const w of watchers) await waitFor(`the snapshot of ${w.sheet}`, () => w.revision >= 0n || failures.length > 0);
      const bix = new Index(await get(budget, BY_ACCOUNT));
      const beforeCopy = new LocalGrid(bix.grid);
      const [path, col, m, v] = [["Personnel"], "2025-Q1", "amount", "-123456.78"] as const;
      const leaf = bix.children(path).find((k) => beforeCopy.caption(k) !== "");
      assert.ok(leaf, "no account with a caption under Personnel");

      const resp = await budget.updateCell({ edit: { cell: cell(BY_ACCOUNT, path, col, m), value: v } }, actorHeaders("ts-models"));
      assert.equal(resp.result?.newValue, v);
      assert.ok((resp.result?.factsChanged ?? 0n) > 0n);
      const changed = new Map<string, string>();
      for (const sc of resp.changes) for (const c of sc.cells) changed.set(JSON.stringify([sc.sheet, c.rowPath, c.column, c.measure]), c.value);
      assert.equal(changed.get(JSON.stringify([BY_ACCOUNT, path, col, m])), v);
      for (const c of ["2025", TOTAL_COLUMN]) {
        for (const p of [path, []]) assert.ok(changed.has(JSON.stringify([BY_ACCOUNT, p, c, m])), `changes carry ${JSON.stringify(p)} ${c}`);
      }
      assert.ok(resp.changes.some((sc) => sc.sheet === DEPARTMENTS), "the write shows on the two-dimension sheet");

      for (const w of watchers) {
        await waitFor(`${w.sheet} at revision ${resp.revision}`, () => w.revision >= resp.revision || failures.length > 0);
        assert.deepEqual(failures, []);
        const now = await get(budget, w.sheet);
        assert.deepEqual(w.grid?.diff(new LocalGrid(now)), [], `${w.sheet}: the watched copy differs from GetSheet at ${now.revision}`);
      }
      const w = watchers[0]!;
      assert.equal(w.grid?.value(path, col, m), v);
      assert.equal(w.grid?.caption(leaf), beforeCopy.caption(leaf));

      // The quarter's value is spread over its months; the year and total follow.
      const aix = new Index(await get(budget, BY_ACCOUNT));
      assert.equal(["2025-01", "2025-02", "2025-03"].reduce((s, c) => s + units(aix.value(path, c, m), 2), 0n), units(v, 2));
      const delta = units(v, 2) - units(bix.value(path, col, m), 2);
      for (const c of ["2025", TOTAL_COLUMN]) {
        for (const p of [path, []]) assert.equal(units(aix.value(p, c, m), 2), units(bix.value(p, c, m), 2) + delta, `${JSON.stringify(p)} ${c}`);
      }
      for (const c of ["2025-04", "2026-Q1"]) assert.equal(aix.value(path, c, m), bix.value(path, c, m), `${c} is outside the quarter`);
    } finally {
      for (const w of watchers) w.stop();
      await Promise.all(running);
    }
    assert.deepEqual(failures, []);
  });

  it("examples default to the first sheet, its first measure and first month", async () => {
    const first = (await listSheets(budget))[0]!;
    const grid = await get(budget, first.name);
    const leaf = formatPath(firstLeaf(grid).path);
    const dist = fileURLToPath(new URL("../examples/", import.meta.url));
    const watch = runExample("watch", ["--addr", budgetServer.addr, "--changes", "1"]);
    try {
      const snapshot = await watch.lines.next();
      assert.ok(!snapshot.done && snapshot.value.startsWith(`snapshot ${first.name} at revision `), `watch printed ${String(snapshot.value)} ${watch.stderr()}`);

      const { stdout } = await promisify(execFile)(process.execPath, [
        `${dist}update.js`, "--addr", budgetServer.addr, "--value", "321.00", "--actor", "ts-example-model",
      ]);
      assert.ok(stdout.startsWith(`revision ${grid.revision + 1n}: [${leaf}] 2025-01 amount: `), stdout);
      assert.ok(stdout.includes('-> "321.00"'), stdout);

      const next = await watch.lines.next();
      assert.ok(!next.done && next.value.startsWith(`revision ${grid.revision + 1n} by "ts-example-model"`), String(next.value));
      assert.equal(await watch.exited, 0, watch.stderr());
    } finally {
      watch.kill();
    }

    // The flags still choose: a quarter column of another sheet.
    const { stdout } = await promisify(execFile)(process.execPath, [
      `${dist}update.js`, "--addr", budgetServer.addr, "--sheet", BY_COST_CENTRE, "--column", "2026-Q2",
      "--measure", "headcount", "--value", "12.5",
    ]);
    assert.ok(stdout.includes("2026-Q2 headcount: ") && stdout.includes('-> "12.5"'), stdout);
  });
});

/** Any sheet: shape, formatting, every subtotal column == the sum of the months
 * in its period, every aggregate row == the sum of its children (leaves may be
 * at any depth). */
function checkModelGrid(sheet: Sheet, grid: Grid): void {
  const keys = sheet.columns.map((c) => c.key);
  assert.equal(grid.sheet, sheet.name);
  assert.deepEqual(grid.columns, keys);
  assert.equal(BigInt(grid.rows.length), sheet.rowCount);
  assert.deepEqual(grid.rows[0]?.path, []);
  const months = sheet.columns.flatMap((c, i) => (c.kind === ColumnKind.MONTH ? [i] : []));
  const covers = new Map<number, number[]>();
  sheet.columns.forEach((c, i) => {
    if (c.kind === ColumnKind.MONTH) return;
    covers.set(i, months.filter((j) => sheet.columns[j]!.periodStart >= c.periodStart && sheet.columns[j]!.periodEnd <= c.periodEnd));
  });
  const scales = new Map(sheet.measures.map((m) => [m.name, m.scale]));
  const ix = new Index(grid);
  const seen = new Set<string>();
  for (const row of grid.rows) {
    const p = row.path;
    const where = `${sheet.name} ${JSON.stringify(p)}`;
    assert.ok(p.length <= sheet.rowLevels.length && !seen.has(JSON.stringify(p)), `${where}: too deep or repeated`);
    if (p.length > 0) assert.ok(seen.has(JSON.stringify(p.slice(0, -1))), `${where} precedes its parent`);
    seen.add(JSON.stringify(p));
    const kids = ix.children(p);
    assert.equal(row.leaf, kids.length === 0, `${where}: leaf=${row.leaf} with ${kids.length} children`);
    for (const mv of row.measures) {
      const scale = scales.get(mv.measure) ?? 0;
      const re = new RegExp(`^-?\\d+${scale > 0 ? `\\.\\d{${scale}}` : ""}$`);
      assert.equal(mv.values.length, keys.length);
      for (const v of mv.values) assert.ok(v === "" || re.test(v), `${where} ${mv.measure}: ${v} (scale ${scale})`);
      for (const [i, js] of covers) {
        const sum = js.reduce((s, j) => s + units(mv.values[j] ?? "", scale), 0n);
        assert.equal(units(mv.values[i] ?? "", scale), sum, `${where} ${mv.measure} ${keys[i]} != the sum of its months`);
      }
      if (kids.length === 0) continue;
      keys.forEach((col, i) => {
        const sum = kids.reduce((s, k) => s + units(ix.value(k, col, mv.measure), scale), 0n);
        assert.equal(units(mv.values[i] ?? "", scale), sum, `${where} ${mv.measure} ${col} != the sum of its children`);
      });
    }
  }
}
