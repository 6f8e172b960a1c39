// LocalGrid without a server.
import assert from "node:assert/strict";
import { it } from "node:test";

import { create } from "@bufbuild/protobuf";

import { ChangeEventSchema, GridSchema, LocalGrid, RevisionError, formatPath, parsePath } from "../src/index.js";

function sample() {
  const mv = (measure: string, ...values: string[]) => ({ measure, values });
  return create(GridSchema, {
    sheet: "sheets/s",
    revision: 4n,
    columns: ["2024-01", "total"],
    rows: [
      { path: [], measures: [mv("quantity", "3", "3")] },
      { path: ["A"], leaf: true, measures: [mv("quantity", "3", "3")] },
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
});

it("paths", () => {
  assert.deepEqual(parsePath(""), []);
  assert.equal(formatPath(parsePath("A/B b/C")), "A/B b/C");
});
