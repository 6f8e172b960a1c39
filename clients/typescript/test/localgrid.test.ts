// LocalGrid without a server.
import assert from "node:assert/strict";
import { it } from "node:test";

import { create } from "@bufbuild/protobuf";

import {
  ChangeEventSchema,
  ColumnKind,
  GridSchema,
  LocalGrid,
  RevisionError,
  SheetSchema,
  findSheet,
  firstMonthColumn,
  formatPath,
  monthColumns,
  parsePath,
} from "../src/index.js";

function sample() {
  const mv = (measure: string, ...values: string[]) => ({ measure, values });
  return create(GridSchema, {
    sheet: "sheets/s",
    revision: 4n,
    columns: ["2024-01", "total"],
    rows: [
      { path: [], measures: [mv("quantity", "3", "3")] },
      { path: ["A"], leaf: true, caption: "00042", measures: [mv("quantity", "3", "3")] },
      { path: ["B"], leaf: true, measures: [mv("quantity", "", "")] },
    ],
  });
}

it("LocalGrid applies changes in order", () => {
  const local = new LocalGrid(sample());
  assert.equal(local.value(["B"], "total", "quantity"), "");
  assert.equal(local.value(["C"], "total", "quantity"), undefined);
  const cells = (path: string[]) => ["2024-01", "total"].map((column) => ({ rowPath: path, column, measure: "quantity", value: "5" }));
  const event = create(ChangeEventSchema, {
    revision: 5n,
    changes: [
      { sheet: "sheets/other", cells: [{ rowPath: ["A"], column: "total", measure: "quantity", value: "99" }] },
      { sheet: "sheets/s", cells: [...cells(["A"]), ...cells([])] },
    ],
  });
  assert.equal(local.apply(event), 4);
  assert.equal(local.revision, 5n);
  for (const p of [[], ["A"]]) for (const c of ["2024-01", "total"]) assert.equal(local.value(p, c, "quantity"), "5");
  assert.throws(() => local.apply(event), RevisionError); // replay
  assert.throws(() => local.apply(create(ChangeEventSchema, { revision: 7n })), (e: unknown) =>
    e instanceof RevisionError && e.have === 5n && e.got === 7n); // gap
  assert.equal(local.diff(new LocalGrid(sample())).length, 4);
  assert.deepEqual(local.diff(local), []);
  assert.deepEqual(local.rows, [[], ["A"], ["B"]]);
  assert.deepEqual([local.caption(["A"]), local.caption(["B"]), local.caption([])], ["00042", "", ""]);
});

it("LocalGrid holds any columns and row depths", () => {
  // Quarter and year subtotals, a ragged row, a second dimension's level.
  const columns = ["2025-01", "2025-Q1", "2025", "total"];
  const values = (v: string) => [{ measure: "amount", values: columns.map(() => v) }];
  const local = new LocalGrid(create(GridSchema, {
    sheet: "sheets/s",
    columns,
    rows: [
      { path: [], measures: values("1.00") },
      { path: ["North", "Harbour", "Quay"], leaf: true, caption: "00012", measures: values("1.00") },
      { path: ["Online", "Web shop"], leaf: true, caption: "00099", measures: values("") },
    ],
  }));
  const web = ["Online", "Web shop"];
  local.apply(create(ChangeEventSchema, {
    revision: 1n,
    changes: [{ sheet: "sheets/s", cells: columns.slice(1).map((column) => ({ rowPath: web, column, measure: "amount", value: "-5.50" })) }],
  }));
  assert.deepEqual(columns.map((c) => local.value(web, c, "amount")), ["", "-5.50", "-5.50", "-5.50"]);
  assert.equal(local.caption(web), "00099");
  assert.deepEqual(local.rows, [[], ["North", "Harbour", "Quay"], web]);
});

it("month columns", () => {
  const col = (key: string, kind: ColumnKind, total = false) => ({ key, kind, total });
  const sheet = create(SheetSchema, {
    name: "sheets/s",
    columns: [col("2025-Q4", ColumnKind.QUARTER), col("2025-11", ColumnKind.MONTH), col("2025-12", ColumnKind.MONTH),
      col("2025", ColumnKind.YEAR), col("total", ColumnKind.TOTAL, true)],
  });
  assert.deepEqual(monthColumns(sheet), ["2025-11", "2025-12"]);
  assert.equal(firstMonthColumn(sheet), "2025-11");
  // A server that does not set kinds: every column but the total is a month.
  const old = create(SheetSchema, { name: "sheets/o", columns: [col("2024-01", ColumnKind.UNSPECIFIED), col("total", ColumnKind.UNSPECIFIED, true)] });
  assert.deepEqual(monthColumns(old), ["2024-01"]);
  assert.throws(() => firstMonthColumn(create(SheetSchema, { name: "sheets/e", columns: [col("total", ColumnKind.TOTAL, true)] })));
  assert.equal(findSheet([sheet, old], "sheets/o"), old);
  assert.throws(() => findSheet([sheet], "sheets/none"));
});

it("paths", () => {
  assert.deepEqual(parsePath(""), []);
  assert.equal(formatPath(parsePath("A/B b/C")), "A/B b/C");
});
