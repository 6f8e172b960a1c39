// The edit script shared by the three client suites (clients/README.md,
// "Cross-client check"), applied to a fresh server (seed 7, 5000 facts); the
// canonical dump goes to $DUCKGRID_CANONICAL_OUT and scripts/test-clients.sh
// diffs the three suites' dumps.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { it } from "node:test";

import type { MessageInitShape } from "@bufbuild/protobuf";

import {
  type CellEditSchema,
  type EditResult,
  type GridClient,
  SpreadMethod,
  UpdateMode,
  actorHeaders,
  cell,
  connect,
  firstLeaf,
} from "../src/index.js";
import { PRODUCT, REGION, startServer } from "./support.js";

it("canonical edit script", async () => {
  const server = await startServer();
  let lines: unknown[][];
  try {
    lines = await runScript(connect(server.addr));
  } finally {
    await server.stop();
  }
  const out = process.env["DUCKGRID_CANONICAL_OUT"] || join(tmpdir(), `canonical-typescript-${process.pid}.jsonl`);
  writeFileSync(out, lines.map((l) => JSON.stringify(l) + "\n").join(""), "utf8");
  console.log(`canonical dump: ${out} (${lines.length} lines)`);
});

async function runScript(client: GridClient): Promise<unknown[][]> {
  const md = actorHeaders("canonical");
  const leaf = [...firstLeaf((await client.getSheet({ name: PRODUCT })).grid!).path];
  const rleaf = [...firstLeaf((await client.getSheet({ name: REGION })).grid!).path];
  const parent = leaf.slice(0, -1);
  const top = leaf.slice(0, 1);
  const edit = (sheet: string, path: string[], col: string, m: string, value: string,
    mode = UpdateMode.SET, spread = SpreadMethod.UNSPECIFIED): MessageInitShape<typeof CellEditSchema> =>
    ({ cell: cell(sheet, path, col, m), value, mode, spread });
  const steps = [
    [edit(PRODUCT, leaf, "2024-01", "net_amount", "1234.56")],
    [edit(PRODUCT, parent, "2024-02", "quantity", "1000")],
    [edit(PRODUCT, parent, "total", "net_amount", "99999.99")],
    [edit(PRODUCT, top, "2025-06", "quantity", "7", UpdateMode.ADD)],
    [edit(PRODUCT, [], "2024-12", "net_amount", "10", UpdateMode.PERCENT)],
    [edit(REGION, rleaf, "2025-01", "quantity", "42")],
    [edit(PRODUCT, parent, "2024-05", "net_amount", "777.77", UpdateMode.SET, SpreadMethod.EQUAL)],
    [edit(PRODUCT, parent, "2024-04", "net_amount", "500.00"), edit(PRODUCT, leaf, "2024-04", "quantity", "3")],
  ];
  const lines: unknown[][] = [];
  for (const [i, edits] of steps.entries()) {
    let rev: bigint;
    let results: EditResult[];
    if (edits.length === 1) {
      const resp = await client.updateCell({ edit: edits[0]! }, md);
      [rev, results] = [resp.revision, [resp.result!]];
    } else {
      const resp = await client.batchUpdateCells({ edits }, md);
      [rev, results] = [resp.revision, resp.results];
    }
    assert.equal(rev, BigInt(i + 1), `step ${i + 1} committed as revision ${rev} on a fresh server`);
    for (const r of results) lines.push(["edit", i + 1, Number(rev), r.previousValue, r.newValue, Number(r.factsChanged)]);
  }
  for (const sheet of (await client.listSheets({})).sheets) {
    const grid = (await client.getSheet({ name: sheet.name })).grid!;
    lines.push(["sheet", grid.sheet, Number(grid.revision), grid.columns]);
    for (const row of grid.rows) {
      for (const mv of row.measures) lines.push(["row", grid.sheet, mv.measure, row.path, row.leaf, mv.values]);
    }
  }
  return lines;
}
