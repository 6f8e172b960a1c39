package duckgrid_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// The examples, built once for the suite (removed by TestMain).
var (
	examplesOnce sync.Once
	examplesDir  string
	examplesErr  error
)

func exampleBinaries(t *testing.T, ctx context.Context) string {
	t.Helper()
	examplesOnce.Do(func() {
		if examplesDir, examplesErr = os.MkdirTemp("", "duckgrid-go-examples-"); examplesErr != nil {
			return
		}
		build := exec.CommandContext(ctx, "go", "build", "-o", examplesDir, "../examples/watch", "../examples/update", "../examples/history")
		if out, err := build.CombinedOutput(); err != nil {
			examplesErr = &buildError{err: err, out: out}
		}
	})
	if examplesErr != nil {
		t.Fatalf("go build examples: %v", examplesErr)
	}
	return examplesDir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// runExamples starts the watch example (watchArgs, exiting after one change),
// waits for its snapshot line, which must start with wantSnapshot, then runs
// the update example (updateArgs) and returns update's output and the lines
// watch printed after its snapshot.
func runExamples(t *testing.T, ctx context.Context, addr string, watchArgs []string, wantSnapshot string, updateArgs []string) (string, []string) {
	t.Helper()
	bin := exampleBinaries(t, ctx)
	watch := exec.CommandContext(ctx, filepath.Join(bin, "watch"), append([]string{"--addr", addr, "--changes", "1"}, watchArgs...)...)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if watch.ProcessState == nil {
			_ = watch.Process.Kill()
			_ = watch.Wait()
		}
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if !strings.HasPrefix(l, wantSnapshot) {
			t.Fatalf("watch printed %q first, want a line starting %q; stderr: %s", l, wantSnapshot, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watch printed no snapshot; stderr: %s", stderr.String())
	}

	out, err := exec.CommandContext(ctx, filepath.Join(bin, "update"), append([]string{"--addr", addr}, updateArgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("update example: %v\n%s", err, out)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("watch: %v; stderr: %s", err, stderr.String())
	}
	return string(out), rest
}

// TestExamples builds ./examples/watch and ./examples/update and runs them
// against the suite's server: watch prints the snapshot, update writes a
// cell, watch prints that change and exits.
func TestExamples(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	out, rest := runExamples(t, ctx, sharedServer.Addr, nil, "snapshot sheets/sales_by_product_family at revision ",
		[]string{"--column", "2024-10", "--measure", "net_amount", "--value", "321.00", "--actor", "go-example-test"})
	if !strings.Contains(out, `-> "321.00"`) {
		t.Errorf("update printed:\n%s", out)
	}
	want := "revision " + strconv.FormatInt(before.GetRevision()+1, 10) + ` by "go-example-test"`
	if len(rest) == 0 || !strings.HasPrefix(rest[0], want) {
		t.Errorf("watch printed %q, want a line starting %q", rest, want)
	}
}
