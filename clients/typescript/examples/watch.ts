// Follow a sheet: print the snapshot, then every change as it commits; the
// local copy stays current across disconnects (resuming from the last revision + 1).
// Without --sheet it follows the first sheet of ListSheets, so it works
// against any model.
//
//   node dist/examples/watch.js --addr 127.0.0.1:50051
//   node dist/examples/watch.js --addr 127.0.0.1:50051 --sheet sheets/sales_by_product_family
//   node dist/examples/watch.js --addr 127.0.0.1:50051 --ca certs/ca.pem --token dg_...
//
// Connection flags (--token, also $DUCKGRID_TOKEN; --ca, --cert, --key,
// --server-name, --tls): see connection.ts.
import { parseArgs } from "node:util";

import { SheetWatcher, formatPath, listSheets } from "../src/index.js";
import { connectWith, connectionFlags } from "./connection.js";

const { values: args } = parseArgs({
  options: {
    ...connectionFlags,
    sheet: { type: "string" }, // "sheets/..." (default: the first sheet)
    changes: { type: "string", default: "0" }, // exit after this many changes (0: until interrupted)
  },
});
const maxChanges = Number(args.changes);
const client = connectWith(args);

let sheet = args.sheet;
if (sheet === undefined) {
  try {
    sheet = (await listSheets(client))[0]?.name;
  } catch (err) {
    console.error("watch:", err instanceof Error ? err.message : err);
    process.exit(1);
  }
  if (sheet === undefined) {
    console.error("watch: the server has no sheets");
    process.exit(1);
  }
}

const watcher = new SheetWatcher(client, sheet);
process.once("SIGINT", () => watcher.stop());
process.once("SIGTERM", () => watcher.stop());
let seen = 0;
try {
  for await (const u of watcher.updates()) {
    if (u.kind === "snapshot") {
      console.log(`snapshot ${u.grid.sheet} at revision ${u.revision}: ${u.grid.rows.length} rows, ${u.grid.size} cells`);
    } else if (u.kind === "change" && u.change !== undefined) {
      const cells = u.change.changes.filter((sc) => sc.sheet === sheet).flatMap((sc) => sc.cells);
      console.log(`revision ${u.revision} by "${u.change.actor}": ${cells.length} cells changed`);
      for (const c of cells.slice(0, 5)) console.log(`  [${formatPath(c.rowPath)}] ${c.column} ${c.measure} = ${c.value}`);
      if (cells.length > 5) console.log(`  ... and ${cells.length - 5} more`);
      if (maxChanges > 0 && ++seen >= maxChanges) watcher.stop();
    }
  }
} catch (err) {
  console.error("watch:", err instanceof Error ? err.message : err);
  process.exit(1);
}
