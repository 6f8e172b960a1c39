package duckgrid_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

func sampleGrid() *duckgridv1.Grid {
	mv := func(m string, vs ...string) *duckgridv1.MeasureValues {
		return &duckgridv1.MeasureValues{Measure: m, Values: vs}
	}
	return &duckgridv1.Grid{
		Sheet: "sheets/s", Revision: 4, Columns: []string{"2024-01", "total"},
		Rows: []*duckgridv1.Row{
			{Path: nil, Measures: []*duckgridv1.MeasureValues{mv("quantity", "3", "3")}},
			{Path: []string{"A"}, Leaf: true, Caption: "00042", Measures: []*duckgridv1.MeasureValues{mv("quantity", "3", "3")}},
			{Path: []string{"B"}, Leaf: true, Measures: []*duckgridv1.MeasureValues{mv("quantity", "", "")}},
		},
	}
}

func TestLocalGridAppliesChangesInOrder(t *testing.T) {
	l := duckgrid.NewLocalGrid(sampleGrid())
	if v, ok := l.Value([]string{"B"}, "total", "quantity"); !ok || v != "" {
		t.Fatalf("empty cell = %q, %v", v, ok)
	}
	ev := &duckgridv1.ChangeEvent{Revision: 5, Changes: []*duckgridv1.SheetChanges{
		{Sheet: "sheets/other", Cells: []*duckgridv1.CellChange{{RowPath: []string{"A"}, Column: "total", Measure: "quantity", Value: "99"}}},
		{Sheet: "sheets/s", Cells: []*duckgridv1.CellChange{
			{RowPath: []string{"A"}, Column: "2024-01", Measure: "quantity", Value: "5"},
			{RowPath: []string{"A"}, Column: "total", Measure: "quantity", Value: "5"},
			{RowPath: nil, Column: "2024-01", Measure: "quantity", Value: "5"},
			{RowPath: []string{}, Column: "total", Measure: "quantity", Value: "5"},
		}},
	}}
	n, err := l.Apply(ev)
	if err != nil || n != 4 || l.Revision != 5 {
		t.Fatalf("Apply = %d, %v; revision %d", n, err, l.Revision)
	}
	for _, p := range [][]string{nil, {"A"}} {
		for _, c := range []string{"2024-01", "total"} {
			if v, _ := l.Value(p, c, "quantity"); v != "5" {
				t.Errorf("%q %s = %q, want 5", p, c, v)
			}
		}
	}
	// Replays and gaps are refused and change nothing.
	var re *duckgrid.RevisionError
	if _, err := l.Apply(ev); !errors.As(err, &re) {
		t.Errorf("replayed revision: %v", err)
	}
	if _, err := l.Apply(&duckgridv1.ChangeEvent{Revision: 7}); !errors.As(err, &re) || re.Have != 5 || re.Got != 7 {
		t.Errorf("gap: %v", err)
	}
	other := duckgrid.NewLocalGrid(sampleGrid())
	if d := l.Diff(other, 10); len(d) != 4 {
		t.Errorf("Diff = %v, want 4 differences", d)
	}
	if d := l.Diff(l, 10); len(d) != 0 {
		t.Errorf("Diff with itself = %v", d)
	}
	if a, b, top := l.Caption([]string{"A"}), l.Caption([]string{"B"}), l.Caption(nil); a != "00042" || b != "" || top != "" {
		t.Errorf("captions = %q, %q, %q", a, b, top)
	}
}

// Quarter and year subtotals, a ragged row, a second dimension's level.
func TestLocalGridAnyColumnsAndDepths(t *testing.T) {
	cols := []string{"2025-01", "2025-Q1", "2025", "total"}
	vals := func(v string) []*duckgridv1.MeasureValues {
		return []*duckgridv1.MeasureValues{{Measure: "amount", Values: []string{v, v, v, v}}}
	}
	l := duckgrid.NewLocalGrid(&duckgridv1.Grid{Sheet: "sheets/s", Columns: cols, Rows: []*duckgridv1.Row{
		{Measures: vals("1.00")},
		{Path: []string{"North", "Harbour", "Quay"}, Leaf: true, Caption: "00012", Measures: vals("1.00")},
		{Path: []string{"Online", "Web shop"}, Leaf: true, Caption: "00099", Measures: vals("")},
	}})
	web := []string{"Online", "Web shop"}
	var cells []*duckgridv1.CellChange
	for _, c := range cols[1:] {
		cells = append(cells, &duckgridv1.CellChange{RowPath: web, Column: c, Measure: "amount", Value: "-5.50"})
	}
	if _, err := l.Apply(&duckgridv1.ChangeEvent{Revision: 1, Changes: []*duckgridv1.SheetChanges{{Sheet: "sheets/s", Cells: cells}}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cols {
		v, _ := l.Value(web, c, "amount")
		got = append(got, v)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{"", "-5.50", "-5.50", "-5.50"}) {
		t.Errorf("web shop = %q", got)
	}
	if c := l.Caption(web); c != "00099" {
		t.Errorf("caption = %q", c)
	}
	if r := l.Rows(); len(r) != 3 || len(r[1]) != 3 || len(r[2]) != 2 {
		t.Errorf("rows = %q", r)
	}
}

func TestMonthColumns(t *testing.T) {
	col := func(key string, kind duckgridv1.ColumnKind, total bool) *duckgridv1.Column {
		return &duckgridv1.Column{Key: key, Kind: kind, Total: total}
	}
	s := &duckgridv1.Sheet{Name: "sheets/s", Columns: []*duckgridv1.Column{
		col("2025-Q4", duckgridv1.ColumnKind_COLUMN_KIND_QUARTER, false),
		col("2025-11", duckgridv1.ColumnKind_COLUMN_KIND_MONTH, false),
		col("2025-12", duckgridv1.ColumnKind_COLUMN_KIND_MONTH, false),
		col("2025", duckgridv1.ColumnKind_COLUMN_KIND_YEAR, false),
		col("total", duckgridv1.ColumnKind_COLUMN_KIND_TOTAL, true),
	}}
	if got := duckgrid.MonthColumns(s); fmt.Sprint(got) != "[2025-11 2025-12]" {
		t.Errorf("MonthColumns = %v", got)
	}
	if got, err := duckgrid.FirstMonthColumn(s); got != "2025-11" || err != nil {
		t.Errorf("FirstMonthColumn = %q, %v", got, err)
	}
	// A server that does not set kinds: every column but the total is a month.
	old := &duckgridv1.Sheet{Name: "sheets/o", Columns: []*duckgridv1.Column{col("2024-01", 0, false), col("total", 0, true)}}
	if got := duckgrid.MonthColumns(old); fmt.Sprint(got) != "[2024-01]" {
		t.Errorf("MonthColumns (no kinds) = %v", got)
	}
	if _, err := duckgrid.FirstMonthColumn(&duckgridv1.Sheet{Columns: []*duckgridv1.Column{col("total", duckgridv1.ColumnKind_COLUMN_KIND_TOTAL, true)}}); err == nil {
		t.Error("FirstMonthColumn of a sheet without months: no error")
	}
	if got, err := duckgrid.FindSheet([]*duckgridv1.Sheet{s, old}, "sheets/o"); got != old || err != nil {
		t.Errorf("FindSheet = %v, %v", got, err)
	}
	if _, err := duckgrid.FindSheet([]*duckgridv1.Sheet{s}, "sheets/none"); err == nil {
		t.Error("FindSheet of an unknown sheet: no error")
	}
}

func TestParsePath(t *testing.T) {
	if p := duckgrid.ParsePath(""); len(p) != 0 {
		t.Errorf("ParsePath(\"\") = %q", p)
	}
	if got := duckgrid.FormatPath(duckgrid.ParsePath("A/B b/C")); got != "A/B b/C" {
		t.Errorf("round trip = %q", got)
	}
}
