// Package testserver starts the real duckgrid binary for the client tests: on
// a free loopback port (--listen 127.0.0.1:0, address read back from
// --addr-file), in-memory, with a small seeded demo model or a model file
// (one of the repository's examples/*/model.toml).
package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a running duckgrid process.
type Server struct {
	// Addr is the host:port it serves on.
	Addr    string
	cmd     *exec.Cmd
	dir     string
	logPath string
	exited  chan struct{}
	waitErr error
}

// Binary returns the duckgrid binary the tests run: $DUCKGRID_BIN, or the
// default of scripts/env.sh ($CARGO_TARGET_DIR or ~/.cache/duckgrid/target,
// then debug/duckgrid).
func Binary() (string, error) {
	bin := os.Getenv("DUCKGRID_BIN")
	if bin == "" {
		target := os.Getenv("CARGO_TARGET_DIR")
		if target == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			target = filepath.Join(home, ".cache", "duckgrid", "target")
		}
		bin = filepath.Join(target, "debug", "duckgrid")
	}
	st, err := os.Stat(bin)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("duckgrid binary not found at %s: build the server first (cargo build) or set DUCKGRID_BIN", bin)
	}
	return bin, nil
}

var addrRe = regexp.MustCompile(`^[^\s:]+:\d+$`)

// Options say what a server serves.
type Options struct {
	// Model is the path of a model file (--model); empty: the built-in demo,
	// generated from Seed and Facts.
	Model       string
	Seed, Facts int
	// Args are appended to the serve command line (--tls-cert, --auth-file...).
	Args []string
}

// ExampleModel returns the path of the repository's examples/<name>/model.toml
// ("budget", "retail").
func ExampleModel(name string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("testserver: cannot locate the repository")
	}
	// clients/go/internal/testserver/testserver.go -> the repository root.
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	path, err := filepath.Abs(filepath.Join(root, "examples", name, "model.toml"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("testserver: example model %q: %w", name, err)
	}
	return path, nil
}

// Start runs `duckgrid serve` of the demo with the given seed and fact count
// and waits (up to 180 s) until it has written its address.
func Start(seed, facts int) (*Server, error) {
	return StartWith(Options{Seed: seed, Facts: facts})
}

// StartModel runs `duckgrid serve --model path` (see Start).
func StartModel(path string) (*Server, error) {
	return StartWith(Options{Model: path})
}

// StartWith runs `duckgrid serve` as opts say (see Start).
func StartWith(opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	source := []string{"--seed", strconv.Itoa(opts.Seed), "--facts", strconv.Itoa(opts.Facts)}
	if opts.Model != "" {
		if _, err := os.Stat(opts.Model); err != nil {
			return nil, fmt.Errorf("testserver: model file: %w", err)
		}
		source = []string{"--model", opts.Model}
	}
	dir, err := os.MkdirTemp("", "duckgrid-go-test-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	addrFile := filepath.Join(dir, "addr")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--db", ":memory:"}, source...)
	args = append(args, "--addr-file", addrFile, "--progress-interval-ms", "200")
	s.cmd = exec.Command(bin, append(args, opts.Args...)...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		logFile.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(180 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			if addr := strings.TrimSpace(string(b)); addrRe.MatchString(addr) {
				s.Addr = addr
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("duckgrid exited before serving (%v):\n%s", s.waitErr, s.LogTail(40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("duckgrid did not write %s within 180s:\n%s", addrFile, s.LogTail(40))
		}
	}
}

// Stop sends SIGTERM, waits up to 10 s for a graceful exit, then kills it.
// It reports an error when the process did not stop gracefully.
func (s *Server) Stop() error {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			defer os.RemoveAll(s.dir)
			return errors.New("duckgrid did not exit within 10s of SIGTERM")
		}
	}
	defer os.RemoveAll(s.dir)
	var exitErr *exec.ExitError
	if s.waitErr != nil && !(errors.As(s.waitErr, &exitErr) && exitErr.ExitCode() == 0) {
		return fmt.Errorf("duckgrid exit after SIGTERM: %v\n%s", s.waitErr, s.LogTail(20))
	}
	return nil
}

// LogTail returns the last n lines of the server's output.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
