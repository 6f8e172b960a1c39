package duckgrid_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/internal/testserver"
)

const (
	productSheet = "sheets/sales_by_product_family"
	regionSheet  = "sheets/sales_by_region"
	testSeed     = 7
	testFacts    = 5000
)

// One server for the suite (tests run sequentially and account for each
// other's writes by reading before they write); the canonical edit script
// starts its own fresh one.
var (
	sharedOnce   sync.Once
	sharedServer *testserver.Server
	sharedConn   *grpc.ClientConn
	sharedErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedConn != nil {
		sharedConn.Close()
	}
	servers := []*testserver.Server{sharedServer}
	for _, ms := range modelServers {
		if ms.conn != nil {
			ms.conn.Close()
		}
		servers = append(servers, ms.srv)
	}
	for _, s := range servers {
		if s == nil {
			continue
		}
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping duckgrid:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if examplesDir != "" {
		os.RemoveAll(examplesDir)
	}
	os.Exit(code)
}

func client(t *testing.T) duckgridv1.GridServiceClient {
	t.Helper()
	sharedOnce.Do(func() {
		sharedServer, sharedErr = testserver.Start(testSeed, testFacts)
		if sharedErr == nil {
			sharedConn, sharedErr = duckgrid.Dial(sharedServer.Addr)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return duckgridv1.NewGridServiceClient(sharedConn)
}

// A server of each example model the tests use (examples/<name>/model.toml),
// started on first use and shared like the demo's.
type modelServer struct {
	srv  *testserver.Server
	conn *grpc.ClientConn
	err  error
}

var (
	modelMu      sync.Mutex
	modelServers = map[string]*modelServer{}
)

// modelClient returns a client of the server of examples/<name>/model.toml
// ("budget", "retail") and that server.
func modelClient(t *testing.T, name string) (duckgridv1.GridServiceClient, *testserver.Server) {
	t.Helper()
	modelMu.Lock()
	defer modelMu.Unlock()
	ms := modelServers[name]
	if ms == nil {
		ms = &modelServer{}
		modelServers[name] = ms
		var path string
		if path, ms.err = testserver.ExampleModel(name); ms.err == nil {
			if ms.srv, ms.err = testserver.StartModel(path); ms.err == nil {
				ms.conn, ms.err = duckgrid.Dial(ms.srv.Addr)
			}
		}
	}
	if ms.err != nil {
		t.Fatalf("the %s model's server: %v", name, ms.err)
	}
	return duckgridv1.NewGridServiceClient(ms.conn), ms.srv
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func getGrid(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, req *duckgridv1.GetSheetRequest) *duckgridv1.Grid {
	t.Helper()
	resp, err := c.GetSheet(ctx, req)
	if err != nil {
		t.Fatalf("GetSheet(%v): %v", req, err)
	}
	return resp.GetGrid()
}

// index is a read-only view of a grid by (path, column, measure).
type index struct {
	g    *duckgridv1.Grid
	col  map[string]int
	rows map[string]*duckgridv1.Row
}

func newIndex(g *duckgridv1.Grid) *index {
	ix := &index{g: g, col: map[string]int{}, rows: map[string]*duckgridv1.Row{}}
	for i, c := range g.GetColumns() {
		ix.col[c] = i
	}
	for _, r := range g.GetRows() {
		ix.rows[strings.Join(r.GetPath(), "\x00")] = r
	}
	return ix
}

func (ix *index) row(path []string) *duckgridv1.Row { return ix.rows[strings.Join(path, "\x00")] }

func (ix *index) value(t *testing.T, path []string, column, measure string) string {
	t.Helper()
	r := ix.row(path)
	if r == nil {
		t.Fatalf("row %q not in grid", path)
	}
	ci, ok := ix.col[column]
	if !ok {
		t.Fatalf("column %q not in grid", column)
	}
	for _, mv := range r.GetMeasures() {
		if mv.GetMeasure() == measure {
			return mv.GetValues()[ci]
		}
	}
	t.Fatalf("measure %q not in row %q", measure, path)
	return ""
}

// children returns the direct children of path, in grid order.
func (ix *index) children(path []string) [][]string {
	var out [][]string
	for _, r := range ix.g.GetRows() {
		p := r.GetPath()
		if len(p) == len(path)+1 && equalPath(p[:len(path)], path) {
			out = append(out, p)
		}
	}
	return out
}

func equalPath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dec parses a decimal string ("" is an empty cell, read as 0).
func dec(t *testing.T, s string) *big.Rat {
	t.Helper()
	if s == "" {
		return new(big.Rat)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

func format(r *big.Rat, scale int) string { return r.FloatString(scale) }

func add(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }
func mul(a, b *big.Rat) *big.Rat { return new(big.Rat).Mul(a, b) }

func ulp(scale int) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
