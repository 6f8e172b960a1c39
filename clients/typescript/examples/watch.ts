// Follow a sheet: print the snapshot, then every change as it commits; the
// local copy stays current across disconnects (resuming from the last revision + 1).
//
//   node dist/examples/watch.js --addr 127.0.0.1:50051 --sheet sheets/sales_by_product_family
import { parseArgs } from "node:util";

import { SheetWatcher, connect, formatPath } from "../src/index.js";

const { values: args } = parseArgs({
  options: {
    addr: { type: "string", default: "127.0.0.1:50051" },
    sheet: { type: "string", default: "sheets/sales_by_product_family" },
    changes: { type: "string", default: "0" }, // exit after this many changes (0: until interrupted)
  },
});
const sheet = args.sheet;
const maxChanges = Number(args.changes);

const watcher = new SheetWatcher(connect(args.addr), sheet);
process.once("SIGINT", () => watcher.stop());
process.once("SIGTERM", () => watcher.stop());
let seen = 0;
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
