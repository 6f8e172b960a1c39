package testserver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Certs runs `duckgrid certs new --out dir` with a --host for each host and
// a --client for each client name: dir gets ca.pem, server.pem + server.key
// and client-NAME.pem + client-NAME.key.
func Certs(dir string, hosts, clients []string) error {
	args := []string{"certs", "new", "--out", dir}
	for _, h := range hosts {
		args = append(args, "--host", h)
	}
	for _, c := range clients {
		args = append(args, "--client", c)
	}
	if _, _, err := run(args...); err != nil {
		return err
	}
	for _, f := range append([]string{"ca.pem", "server.pem", "server.key"}, clientFiles(clients)...) {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("duckgrid certs new wrote no %s: %w", f, err)
		}
	}
	return nil
}

func clientFiles(clients []string) []string {
	var out []string
	for _, c := range clients {
		out = append(out, "client-"+c+".pem", "client-"+c+".key")
	}
	return out
}

// Key is an API key made by `duckgrid keys new`.
type Key struct {
	// Token is the secret ("dg_" and 64 hex digits).
	Token string
	// Entry is the TOML entry ([[principal]] ...) to append to a keys file.
	Entry string
}

var tokenLineRe = regexp.MustCompile(`(?m)^#\s+(dg_[0-9a-f]{64})\s*$`)

// NewKey runs `duckgrid keys new --subject subject --role role [--spread]`
// and parses the token line and the TOML entry of its output.
func NewKey(subject, role string, spread bool) (Key, error) {
	args := []string{"keys", "new", "--subject", subject, "--role", role}
	if spread {
		args = append(args, "--spread")
	}
	stdout, stderr, err := run(args...)
	if err != nil {
		return Key{}, err
	}
	out := stdout + "\n" + stderr
	m := tokenLineRe.FindAllStringSubmatch(out, -1)
	if len(m) != 1 {
		return Key{}, fmt.Errorf("duckgrid keys new: want one token line `#   dg_<64 hex>`, found %d in:\n%s", len(m), out)
	}
	i := strings.Index(stdout, "[[principal]]")
	if i < 0 {
		return Key{}, fmt.Errorf("duckgrid keys new printed no [[principal]] entry:\n%s", out)
	}
	// The entry without comment lines (the token is shown in a comment).
	var entry []string
	for _, l := range strings.Split(stdout[i:], "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			entry = append(entry, l)
		}
	}
	return Key{Token: m[0][1], Entry: strings.TrimSpace(strings.Join(entry, "\n")) + "\n"}, nil
}

func run(args ...string) (string, string, error) {
	bin, err := Binary()
	if err != nil {
		return "", "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("duckgrid %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String(), nil
}
