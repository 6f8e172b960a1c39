// Write one cell and print what the write did. Without --row it writes the
// sheet's first leaf row.
//
//   node dist/examples/update.js --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --value 1234.50
import { parseArgs } from "node:util";

import {
  SpreadMethod,
  UpdateMode,
  actorHeaders,
  cell,
  connect,
  currentValue,
  firstLeaf,
  formatPath,
  parsePath,
} from "../src/index.js";

const { values: args } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:50051" },
    sheet: { type: "string", default: "sheets/sales_by_product_family" },
    row: { type: "string" }, // members joined by "/" ("" is the grand total; default: the first leaf row)
    column: { type: "string", default: "2024-01" },
    measure: { type: "string", default: "net_amount" },
    value: { type: "string" },
    mode: { type: "string", default: "set" }, // set | add | percent
    spread: { type: "string", default: "proportional" }, // proportional | equal
    expected: { type: "string" }, // compare-and-set: the value you expect the cell to hold
    actor: { type: "string", default: "ts-example" },
  },
});
const modes: Record<string, UpdateMode> = { set: UpdateMode.SET, add: UpdateMode.ADD, percent: UpdateMode.PERCENT };
const spreads: Record<string, SpreadMethod> = { proportional: SpreadMethod.PROPORTIONAL, equal: SpreadMethod.EQUAL };
const mode = modes[args.mode];
const spread = spreads[args.spread];
if (args.value === undefined || mode === undefined || spread === undefined) {
  console.error("usage: update --value V [--addr A] [--sheet S] [--row R] [--column C] [--measure M] " +
    "[--mode set|add|percent] [--spread proportional|equal] [--expected E] [--actor NAME]");
  process.exit(2);
}

const client = connect(args.addr);
const path =
  args.row !== undefined
    ? parsePath(args.row)
    : [...firstLeaf((await client.getSheet({ name: args.sheet, columns: [args.column], measures: [args.measure] })).grid!).path];
try {
  const resp = await client.updateCell(
    {
      edit: {
        cell: cell(args.sheet, path, args.column, args.measure),
        value: args.value,
        mode,
        spread,
        ...(args.expected !== undefined ? { expectedValue: args.expected } : {}),
      },
    },
    actorHeaders(args.actor),
  );
  const r = resp.result!;
  console.log(`revision ${resp.revision}: [${formatPath(path)}] ${args.column} ${args.measure}: ` +
    `"${r.previousValue}" -> "${r.newValue}" (${r.factsChanged} facts changed)`);
  for (const sc of resp.changes) console.log(`  ${sc.sheet}: ${sc.cells.length} cells changed`);
} catch (err) {
  const current = currentValue(err);
  if (current !== undefined) {
    console.log(`conflict: [${formatPath(path)}] ${args.column} ${args.measure} is ${current}, not ${args.expected}`);
    process.exit(3);
  }
  console.error("update:", err instanceof Error ? err.message : err);
  process.exit(1);
}
