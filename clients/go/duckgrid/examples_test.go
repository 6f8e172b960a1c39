package duckgrid_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

// TestExamples builds ./examples/watch and ./examples/update and runs them
// against the suite's server: watch prints the snapshot, update writes a
// cell, watch prints that change and exits.
func TestExamples(t *testing.T) {
	c, ctx := client(t), testCtx(t)
	bin := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../examples/watch", "../examples/update")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples: %v\n%s", err, out)
	}
	addr := sharedServer.Addr

	watch := exec.CommandContext(ctx, filepath.Join(bin, "watch"), "--addr", addr, "--changes", "1")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	watch.Stderr = &stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
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
		if !strings.HasPrefix(l, "snapshot sheets/sales_by_product_family at revision ") {
			t.Fatalf("watch printed %q first", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watch printed no snapshot; stderr: %s", stderr.String())
	}

	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "update"), "--addr", addr,
		"--column", "2024-10", "--measure", "net_amount", "--value", "321.00", "--actor", "go-example-test").CombinedOutput()
	if err != nil {
		t.Fatalf("update example: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `-> "321.00"`) {
		t.Errorf("update printed:\n%s", out)
	}

	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := watch.Wait(); err != nil {
		t.Fatalf("watch: %v; stderr: %s", err, stderr.String())
	}
	want := "revision " + strconv.FormatInt(before.GetRevision()+1, 10) + ` by "go-example-test"`
	if len(rest) == 0 || !strings.HasPrefix(rest[0], want) {
		t.Errorf("watch printed %q, want a line starting %q", rest, want)
	}
}
