package duckgrid_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// The client against servers of the example models (examples/budget and
// examples/retail, served with --model): column kinds with quarter and year
// subtotals, levels of two dimensions, filters, captions, ragged rows, and a
// watched copy of a sheet with quarter columns after a write to a quarter.

const (
	byAccount    = "sheets/budget_by_account"
	byCostCentre = "sheets/budget_by_cost_centre"
	departments  = "sheets/departments_by_account_group"
	byStore      = "sheets/revenue_by_store"
	categories   = "sheets/categories_by_region"
	online       = "sheets/online_by_product"
)

const (
	kindMonth   = duckgridv1.ColumnKind_COLUMN_KIND_MONTH
	kindQuarter = duckgridv1.ColumnKind_COLUMN_KIND_QUARTER
	kindYear    = duckgridv1.ColumnKind_COLUMN_KIND_YEAR
	kindTotal   = duckgridv1.ColumnKind_COLUMN_KIND_TOTAL
)

func listSheets(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient) ([]*duckgridv1.Sheet, map[string]*duckgridv1.Sheet) {
	t.Helper()
	sheets, err := duckgrid.ListSheets(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*duckgridv1.Sheet{}
	for _, s := range sheets {
		byName[s.GetName()] = s
	}
	return sheets, byName
}

func sheetNames(sheets []*duckgridv1.Sheet) []string {
	var out []string
	for _, s := range sheets {
		out = append(out, s.GetName())
	}
	return out
}

func columnKeys(s *duckgridv1.Sheet, keep func(*duckgridv1.Column) bool) []string {
	var out []string
	for _, c := range s.GetColumns() {
		if keep == nil || keep(c) {
			out = append(out, c.GetKey())
		}
	}
	return out
}

func ofKind(k duckgridv1.ColumnKind) func(*duckgridv1.Column) bool {
	return func(c *duckgridv1.Column) bool { return c.GetKind() == k }
}

func TestModelBudgetColumnKinds(t *testing.T) {
	ctx := testCtx(t)
	c, _ := modelClient(t, "budget")
	sheets, byName := listSheets(t, ctx, c)
	if got, want := sheetNames(sheets), []string{byAccount, byCostCentre, departments}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %v, want %v (model order)", got, want)
	}
	s := byName[byAccount]
	keys := columnKeys(s, nil)
	cols := map[string]*duckgridv1.Column{}
	for _, col := range s.GetColumns() {
		cols[col.GetKey()] = col
	}
	// Each quarter after its months, each year after its last quarter, the total last.
	if len(keys) != 24+8+2+1 || !slices.Equal(keys[:5], []string{"2025-01", "2025-02", "2025-03", "2025-Q1", "2025-04"}) ||
		!slices.Equal(keys[len(keys)-3:], []string{"2026-Q4", "2026", duckgrid.TotalColumn}) {
		t.Fatalf("%s columns = %v", byAccount, keys)
	}
	if i := slices.Index(keys, "2025-12"); i < 0 || !slices.Equal(keys[i:i+3], []string{"2025-12", "2025-Q4", "2025"}) {
		t.Errorf("2025's last quarter and the year do not follow 2025-12: %v", keys)
	}
	checkColumn := func(key string, kind duckgridv1.ColumnKind, start, end string, total bool) {
		t.Helper()
		col := cols[key]
		if col == nil {
			t.Fatalf("%s has no column %q", byAccount, key)
		}
		if col.GetKind() != kind || col.GetPeriodStart() != start || col.GetPeriodEnd() != end || col.GetTotal() != total {
			t.Errorf("column %s = %v, want kind %v, period %s..%s, total %v", key, col, kind, start, end, total)
		}
	}
	checkColumn("2025-03", kindMonth, "2025-03-01", "2025-04-01", false)
	checkColumn("2025-Q1", kindQuarter, "2025-01-01", "2025-04-01", false)
	checkColumn("2025", kindYear, "2025-01-01", "2026-01-01", false)
	checkColumn(duckgrid.TotalColumn, kindTotal, "2025-01-01", "2027-01-01", true)
	if got := columnKeys(s, func(c *duckgridv1.Column) bool { return c.GetTotal() || c.GetKind() == kindTotal }); !slices.Equal(got, []string{duckgrid.TotalColumn}) {
		t.Errorf("total columns = %v, want only the last", got)
	}
	if got := columnKeys(s, ofKind(duckgridv1.ColumnKind_COLUMN_KIND_UNSPECIFIED)); len(got) > 0 {
		t.Errorf("columns without a kind: %v", got)
	}
	var months, quarters []string
	for _, y := range []int{2025, 2026} {
		for m := 1; m <= 12; m++ {
			months = append(months, fmt.Sprintf("%d-%02d", y, m))
		}
		for q := 1; q <= 4; q++ {
			quarters = append(quarters, fmt.Sprintf("%d-Q%d", y, q))
		}
	}
	if got := duckgrid.MonthColumns(s); !slices.Equal(got, months) {
		t.Errorf("MonthColumns = %v", got)
	}
	if got := columnKeys(s, ofKind(kindQuarter)); !slices.Equal(got, quarters) {
		t.Errorf("quarter columns = %v", got)
	}
	if first, err := duckgrid.FirstMonthColumn(s); err != nil || first != "2025-01" {
		t.Errorf("FirstMonthColumn = %q, %v", first, err)
	}

	// Years only: no quarter columns.
	d := byName[departments]
	if got := columnKeys(d, ofKind(kindQuarter)); len(got) > 0 {
		t.Errorf("%s has quarter columns %v", departments, got)
	}
	if got := columnKeys(d, ofKind(kindYear)); !slices.Equal(got, []string{"2025", "2026"}) {
		t.Errorf("%s year columns = %v", departments, got)
	}
	if last := d.GetColumns()[len(d.GetColumns())-1]; last.GetKind() != kindTotal {
		t.Errorf("%s last column = %v", departments, last)
	}
}

func TestModelBudgetLevelDimensions(t *testing.T) {
	ctx := testCtx(t)
	c, _ := modelClient(t, "budget")
	_, byName := listSheets(t, ctx, c)
	levels := func(name string) []string {
		var out []string
		for _, l := range byName[name].GetRowLevels() {
			out = append(out, l.GetDimension()+"."+l.GetName())
			if l.GetMemberCount() <= 0 {
				t.Errorf("%s level %s: member_count %d", name, l.GetName(), l.GetMemberCount())
			}
		}
		return out
	}
	for name, want := range map[string][]string{
		departments:  {"cost_centre.division", "cost_centre.department", "account.group"},
		byAccount:    {"account.group", "account.account"},
		byCostCentre: {"cost_centre.division", "cost_centre.department", "cost_centre.cost_centre"},
	} {
		if got := levels(name); !slices.Equal(got, want) {
			t.Errorf("%s levels = %v, want %v", name, got, want)
		}
		if f := byName[name].GetFilters(); len(f) > 0 {
			t.Errorf("%s filters = %v, want none", name, f)
		}
	}
	var ms []string
	for _, m := range byName[departments].GetMeasures() {
		ms = append(ms, m.GetName())
	}
	if !slices.Equal(ms, []string{"amount"}) {
		t.Errorf("%s measures = %v", departments, ms)
	}

	// Rows nest the second dimension: division > department > account group.
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: departments})
	personnel := 0
	for _, r := range g.GetRows() {
		if len(r.GetPath()) == 3 {
			if !r.GetLeaf() {
				t.Errorf("%s row %q is not a leaf", departments, r.GetPath())
			}
			if r.GetPath()[2] == "Personnel" {
				personnel++
			}
		}
	}
	if personnel == 0 {
		t.Errorf("%s has no department > Personnel rows", departments)
	}
}

func TestModelRetailFilters(t *testing.T) {
	ctx := testCtx(t)
	c, _ := modelClient(t, "retail")
	sheets, byName := listSheets(t, ctx, c)
	if got, want := sheetNames(sheets), []string{byStore, categories, online}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %v, want %v", got, want)
	}
	f := byName[online].GetFilters()
	if len(f) != 1 || f[0].GetDimension() != "channel" || !slices.Equal(f[0].GetMember(), []string{"Online"}) {
		t.Errorf("%s filters = %v, want channel [Online]", online, f)
	}
	for _, name := range []string{byStore, categories} {
		if f := byName[name].GetFilters(); len(f) > 0 {
			t.Errorf("%s filters = %v, want none", name, f)
		}
	}
	var dims []string
	for _, l := range byName[categories].GetRowLevels() {
		dims = append(dims, l.GetDimension())
	}
	if !slices.Equal(dims, []string{"store", "product"}) {
		t.Errorf("%s level dimensions = %v", categories, dims)
	}
}

func TestModelRetailCaptionsAndRaggedRows(t *testing.T) {
	ctx := testCtx(t)
	c, _ := modelClient(t, "retail")
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: byStore})
	ix := newIndex(g)
	web := ix.row([]string{"Online", "Web shop"})
	if web == nil {
		t.Fatalf("%s has no row [Online, Web shop]", byStore)
	}
	if web.GetCaption() != "00099" {
		t.Errorf("web shop caption = %q, want 00099 (codes keep their leading zeros)", web.GetCaption())
	}
	// Ragged: the web shop has no district, so it is a leaf one level up.
	if !web.GetLeaf() {
		t.Errorf("[Online, Web shop] is not a leaf")
	}
	for path, want := range map[string]string{"North/Harbour/Harbour Street": "00011", "Online": "", "": ""} {
		if r := ix.row(duckgrid.ParsePath(path)); r == nil || r.GetCaption() != want {
			t.Errorf("row %q caption = %v, want %q", path, r, want)
		}
	}
	local := duckgrid.NewLocalGrid(g)
	if got := local.Caption([]string{"Online", "Web shop"}); got != "00099" {
		t.Errorf("LocalGrid caption = %q", got)
	}
	if got := local.Caption([]string{"Online"}); got != "" {
		t.Errorf("LocalGrid caption of a subtotal = %q", got)
	}
	if v, ok := local.Value([]string{"Online", "Web shop"}, duckgrid.TotalColumn, "revenue"); !ok ||
		v != ix.value(t, []string{"Online", "Web shop"}, duckgrid.TotalColumn, "revenue") {
		t.Errorf("LocalGrid web shop revenue = %q, %v", v, ok)
	}
}

// checkModelGrid verifies any sheet's grid: shape, formatting, every subtotal
// column the sum of the months in its period, every aggregate row the sum of
// its children (leaves may be at any depth).
func checkModelGrid(t *testing.T, sheet *duckgridv1.Sheet, g *duckgridv1.Grid) {
	t.Helper()
	name := sheet.GetName()
	keys := columnKeys(sheet, nil)
	if !slices.Equal(g.GetColumns(), keys) {
		t.Fatalf("%s grid columns %v, want %v", name, g.GetColumns(), keys)
	}
	if int64(len(g.GetRows())) != sheet.GetRowCount() || len(g.GetRows()) == 0 || len(g.GetRows()[0].GetPath()) != 0 {
		t.Fatalf("%s: %d rows (row_count %d), the first must be the grand total", name, len(g.GetRows()), sheet.GetRowCount())
	}
	var months []int
	for i, col := range sheet.GetColumns() {
		if col.GetKind() == kindMonth {
			months = append(months, i)
		}
	}
	covers := map[int][]int{}
	for i, col := range sheet.GetColumns() {
		if col.GetKind() == kindMonth {
			continue
		}
		for _, j := range months {
			m := sheet.GetColumns()[j]
			if m.GetPeriodStart() >= col.GetPeriodStart() && m.GetPeriodEnd() <= col.GetPeriodEnd() {
				covers[i] = append(covers[i], j)
			}
		}
	}
	scales := map[string]int{}
	for _, m := range sheet.GetMeasures() {
		scales[m.GetName()] = int(m.GetScale())
	}
	ix := newIndex(g)
	seen := map[string]bool{}
	for _, r := range g.GetRows() {
		p := r.GetPath()
		key := strings.Join(p, "\x00")
		if len(p) > len(sheet.GetRowLevels()) || seen[key] {
			t.Errorf("%s row %q: deeper than the levels or repeated", name, p)
		}
		if len(p) > 0 && !seen[strings.Join(p[:len(p)-1], "\x00")] {
			t.Errorf("%s row %q comes before its parent", name, p)
		}
		seen[key] = true
		kids := ix.children(p)
		if r.GetLeaf() != (len(kids) == 0) {
			t.Errorf("%s row %q: leaf=%v with %d children", name, p, r.GetLeaf(), len(kids))
		}
		for _, mv := range r.GetMeasures() {
			scale := scales[mv.GetMeasure()]
			valueRe := regexp.MustCompile(`^-?\d+$`)
			if scale > 0 {
				valueRe = regexp.MustCompile(fmt.Sprintf(`^-?\d+\.\d{%d}$`, scale))
			}
			vals := mv.GetValues()
			if len(vals) != len(keys) {
				t.Fatalf("%s row %q %s: %d values for %d columns", name, p, mv.GetMeasure(), len(vals), len(keys))
			}
			for i, v := range vals {
				if v != "" && !valueRe.MatchString(v) {
					t.Errorf("%s row %q %s %s: %q is not a decimal with scale %d", name, p, mv.GetMeasure(), keys[i], v, scale)
				}
			}
			for i, js := range covers {
				sum := new(big.Rat)
				for _, j := range js {
					sum = add(sum, dec(t, vals[j]))
				}
				if dec(t, vals[i]).Cmp(sum) != 0 {
					t.Errorf("%s row %q %s %s = %q, its months sum to %s", name, p, mv.GetMeasure(), keys[i], vals[i], format(sum, scale))
				}
			}
			if len(kids) == 0 {
				continue
			}
			for i, col := range keys {
				sum := new(big.Rat)
				for _, k := range kids {
					sum = add(sum, dec(t, ix.value(t, k, col, mv.GetMeasure())))
				}
				if dec(t, vals[i]).Cmp(sum) != 0 {
					t.Errorf("%s row %q %s %s = %q, children sum to %s", name, p, mv.GetMeasure(), col, vals[i], format(sum, scale))
				}
			}
		}
	}
}

func TestModelGridsAddUp(t *testing.T) {
	for _, model := range []string{"budget", "retail"} {
		t.Run(model, func(t *testing.T) {
			ctx := testCtx(t)
			c, _ := modelClient(t, model)
			sheets, _ := listSheets(t, ctx, c)
			for _, s := range sheets {
				checkModelGrid(t, s, getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: s.GetName()}))
			}
		})
	}
}

func TestModelWatcherAfterQuarterWrite(t *testing.T) {
	ctx := testCtx(t)
	c, _ := modelClient(t, "budget")

	// Watchers of the account sheet (quarters and years) and of the
	// two-dimension sheet (years only).
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	watchers := map[string]*duckgrid.Watcher{}
	done := make(chan error, 2)
	for _, name := range []string{byAccount, departments} {
		w := &duckgrid.Watcher{Client: c, Sheet: name, MinBackoff: 20 * time.Millisecond}
		watchers[name] = w
		go func() { done <- w.Run(runCtx, nil) }()
	}
	for name, w := range watchers {
		waitFor(t, "the snapshot of "+name, 20*time.Second, func() bool { return w.Revision() >= 0 })
	}

	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: byAccount})
	bix := newIndex(before)
	path, col, m, v := []string{"Personnel"}, "2025-Q1", "amount", "-123456.78"
	var leaf []string
	for _, k := range bix.children(path) {
		if bix.row(k).GetCaption() != "" {
			leaf = k
			break
		}
	}
	if leaf == nil {
		t.Fatalf("no account with a caption under %q", path)
	}

	resp, err := c.UpdateCell(duckgrid.WithActor(ctx, "go-models"), &duckgridv1.UpdateCellRequest{
		Edit: &duckgridv1.CellEdit{Cell: duckgrid.Cell(byAccount, path, col, m), Value: v},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetResult(); r.GetNewValue() != v || r.GetFactsChanged() <= 0 {
		t.Errorf("result = %v, want new value %s", r, v)
	}
	changed := map[string]string{}
	sheetsChanged := map[string]bool{}
	for _, sc := range resp.GetChanges() {
		sheetsChanged[sc.GetSheet()] = true
		for _, cell := range sc.GetCells() {
			changed[fmt.Sprint(sc.GetSheet(), cell.GetRowPath(), cell.GetColumn(), cell.GetMeasure())] = cell.GetValue()
		}
	}
	if got := changed[fmt.Sprint(byAccount, path, col, m)]; got != v {
		t.Errorf("changes: the quarter cell = %q, want %q", got, v)
	}
	for _, cc := range []string{"2025", duckgrid.TotalColumn} {
		for _, p := range [][]string{path, {}} {
			if _, ok := changed[fmt.Sprint(byAccount, p, cc, m)]; !ok {
				t.Errorf("changes carry no %q %s", p, cc)
			}
		}
	}
	if !sheetsChanged[departments] {
		t.Errorf("the write does not show on %s", departments)
	}

	for name, w := range watchers {
		waitFor(t, name+" at revision "+strconv.FormatInt(resp.GetRevision(), 10), 20*time.Second,
			func() bool { return w.Revision() >= resp.GetRevision() })
		now := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: name})
		if d := w.Diff(now, 5); len(d) > 0 {
			t.Errorf("%s: the watched copy differs from GetSheet at %d: %v", name, now.GetRevision(), d)
		}
	}
	w := watchers[byAccount]
	if got, _ := w.Value(path, col, m); got != v {
		t.Errorf("watched %q %s = %q, want %q", path, col, got, v)
	}
	if got, want := w.Caption(leaf), bix.row(leaf).GetCaption(); got != want {
		t.Errorf("watched caption of %q = %q, want %q", leaf, got, want)
	}

	// The quarter's value is spread over its months; the year and total follow.
	aix := newIndex(getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: byAccount}))
	sum := new(big.Rat)
	for _, mc := range []string{"2025-01", "2025-02", "2025-03"} {
		sum = add(sum, dec(t, aix.value(t, path, mc, m)))
	}
	if sum.Cmp(dec(t, v)) != 0 {
		t.Errorf("the quarter's months sum to %s, want %s", format(sum, 2), v)
	}
	delta := sub(dec(t, v), dec(t, bix.value(t, path, col, m)))
	for _, cc := range []string{"2025", duckgrid.TotalColumn} {
		for _, p := range [][]string{path, nil} {
			want := add(dec(t, bix.value(t, p, cc, m)), delta)
			if got := aix.value(t, p, cc, m); dec(t, got).Cmp(want) != 0 {
				t.Errorf("%q %s = %s, want %s", p, cc, got, format(want, 2))
			}
		}
	}
	for _, cc := range []string{"2025-04", "2026-Q1"} {
		if got, was := aix.value(t, path, cc, m), bix.value(t, path, cc, m); got != was {
			t.Errorf("%s (outside the quarter) changed: %s -> %s", cc, was, got)
		}
	}

	stop()
	for range watchers {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}
}

// TestModelExamples: without --sheet, --measure and --column the examples
// pick the first sheet, its first measure and its first month, so they run
// against any model; the flags still choose.
func TestModelExamples(t *testing.T) {
	ctx := testCtx(t)
	c, srv := modelClient(t, "budget")
	sheets, _ := listSheets(t, ctx, c)
	first := sheets[0].GetName()
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: first})
	leaf, err := duckgrid.FirstLeaf(g)
	if err != nil {
		t.Fatal(err)
	}
	out, rest := runExamples(t, ctx, srv.Addr, nil, "snapshot "+first+" at revision ",
		[]string{"--value", "321.00", "--actor", "go-example-model"})
	rev := strconv.FormatInt(g.GetRevision()+1, 10)
	if want := "revision " + rev + ": [" + duckgrid.FormatPath(leaf.GetPath()) + "] 2025-01 amount: "; !strings.HasPrefix(out, want) ||
		!strings.Contains(out, `-> "321.00"`) {
		t.Errorf("update printed:\n%s\nwant a line starting %q", out, want)
	}
	if want := "revision " + rev + ` by "go-example-model"`; len(rest) == 0 || !strings.HasPrefix(rest[0], want) {
		t.Errorf("watch printed %q, want a line starting %q", rest, want)
	}

	// A quarter column of another sheet, chosen by the flags.
	out, rest = runExamples(t, ctx, srv.Addr, []string{"--sheet", byCostCentre}, "snapshot "+byCostCentre+" at revision ",
		[]string{"--sheet", byCostCentre, "--column", "2026-Q2", "--measure", "headcount", "--value", "12.5"})
	if !strings.Contains(out, "2026-Q2 headcount: ") || !strings.Contains(out, `-> "12.5"`) {
		t.Errorf("update printed:\n%s", out)
	}
	if len(rest) == 0 || !strings.HasPrefix(rest[0], "revision ") || !strings.Contains(rest[0], `by "go-example"`) {
		t.Errorf("watch printed %q, want the change by the example's default actor", rest)
	}
}
