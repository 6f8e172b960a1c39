// Write one cell and print what the write did. It works against any model:
// without --sheet it writes the first sheet of ListSheets, without --measure
// that sheet's first measure, without --column its first month column and
// without --row its first leaf row.
//
//   node dist/examples/update.js --addr 127.0.0.1:50051 --value 1234.50
//   node dist/examples/update.js --addr 127.0.0.1:50051 --column 2024-03 --measure net_amount --value 1234.50
//   DUCKGRID_TOKEN=dg_... node dist/examples/update.js --addr 127.0.0.1:50051 --ca certs/ca.pem --value 1234.50
//
// Connection flags (--token, also $DUCKGRID_TOKEN; --ca, --cert, --key,
// --server-name, --tls): see connection.ts. With credentials the server
// records the write under the key's subject (or the certificate's name), so
// --actor is sent only when given (naming another actor needs an admin key).
import { parseArgs } from "node:util";

import {
  SpreadMethod,
  UpdateMode,
  actorHeaders,
  cell,
  currentValue,
  formatPath,
} from "../src/index.js";
import { cellFlags, findCell } from "./cell.js";
import { actorOf, connectWith, connectionFlags, connectionUsage } from "./connection.js";

const { values: args } = parseArgs({
  options: {
    ...connectionFlags,
    ...cellFlags,
    value: { type: "string" },
    mode: { type: "string", default: "set" }, // set | add | percent
    spread: { type: "string", default: "proportional" }, // proportional | equal
    expected: { type: "string" }, // compare-and-set: the value you expect the cell to hold
    actor: { type: "string" }, // default "ts-example" without credentials; with them, the server's name for you
  },
});
const modes: Record<string, UpdateMode> = { set: UpdateMode.SET, add: UpdateMode.ADD, percent: UpdateMode.PERCENT };
const spreads: Record<string, SpreadMethod> = { proportional: SpreadMethod.PROPORTIONAL, equal: SpreadMethod.EQUAL };
const mode = modes[args.mode];
const spread = spreads[args.spread];
if (args.value === undefined || mode === undefined || spread === undefined) {
  console.error("usage: update --value V [--sheet S] [--row R] [--column C] [--measure M] " +
    "[--mode set|add|percent] [--spread proportional|equal] [--expected E] [--actor NAME] " + connectionUsage);
  process.exit(2);
}

const client = connectWith(args);
const actor = actorOf(args);
const { sheet, column, measure, path } = await findCell(client, args).catch((err: unknown): never => {
  console.error("update:", err instanceof Error ? err.message : err);
  process.exit(1);
});

try {
  const resp = await client.updateCell(
    {
      edit: {
        cell: cell(sheet, path, column, measure),
        value: args.value,
        mode,
        spread,
        ...(args.expected !== undefined ? { expectedValue: args.expected } : {}),
      },
    },
    actor === undefined ? {} : actorHeaders(actor),
  );
  const r = resp.result!;
  console.log(`revision ${resp.revision}: [${formatPath(path)}] ${column} ${measure}: ` +
    `"${r.previousValue}" -> "${r.newValue}" (${r.factsChanged} facts changed)`);
  for (const sc of resp.changes) console.log(`  ${sc.sheet}: ${sc.cells.length} cells changed`);
} catch (err) {
  const current = currentValue(err);
  if (current !== undefined) {
    console.log(`conflict: [${formatPath(path)}] ${column} ${measure} is ${current}, not ${args.expected}`);
    process.exit(3);
  }
  console.error("update:", err instanceof Error ? err.message : err);
  process.exit(1);
}
