// The cell flags update and history share (--sheet, --row, --column and
// --measure) and the one cell they name.
import { type GridClient, findSheet, firstLeaf, firstMonthColumn, listSheets, parsePath } from "../src/index.js";

export const cellFlags = {
  sheet: { type: "string" }, // "sheets/..." (default: the first sheet)
  row: { type: "string" }, // members joined by "/" ("" is the grand total; default: the first leaf row)
  column: { type: "string" }, // "2024-03", "2024-Q1", "2024" or "total" (default: the first month)
  measure: { type: "string" }, // default: the sheet's first measure
} as const;

export interface CellArgs {
  sheet?: string | undefined;
  row?: string | undefined;
  column?: string | undefined;
  measure?: string | undefined;
}

/** One cell: its sheet's resource name, column key, measure and row path. */
export interface Target {
  sheet: string;
  column: string;
  measure: string;
  path: string[];
}

/**
 * The cell the flags name. Each flag not given takes the server's first: the
 * first sheet of ListSheets, that sheet's first measure and first month
 * column, and the first leaf row of GetSheet for that column and measure, so
 * that an example runs against any model without knowing its names.
 */
export async function findCell(client: GridClient, args: CellArgs): Promise<Target> {
  let { sheet, column, measure } = args;
  if (sheet === undefined || column === undefined || measure === undefined) {
    const sheets = await listSheets(client);
    const s = sheet === undefined ? sheets[0] : findSheet(sheets, sheet);
    if (s === undefined) throw new Error("the server has no sheets");
    sheet = s.name;
    if (measure === undefined) {
      measure = s.measures[0]?.name;
      if (measure === undefined) throw new Error(`sheet ${s.name} has no measures`);
    }
    column ??= firstMonthColumn(s);
  }
  const path =
    args.row !== undefined
      ? parsePath(args.row)
      : [...firstLeaf((await client.getSheet({ name: sheet, columns: [column], measures: [measure] })).grid!).path];
  return { sheet, column, measure, path };
}
