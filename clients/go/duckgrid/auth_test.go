package duckgrid_test

// Bearer tokens, TLS and mutual TLS against the real server: every test
// starts its own servers with certificates from `duckgrid certs new` and keys
// from `duckgrid keys new`.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgrid"
	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
	"github.com/duckgrid/duckgrid/clients/go/internal/testserver"
)

// The auth servers serve a smaller demo than the shared one: these tests
// check who may do what, not the numbers.
const authFacts = 1000

// newCerts runs `duckgrid certs new` into a fresh directory (which it
// creates) with the default hosts and a client certificate per name.
func newCerts(t *testing.T, clients ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := testserver.Certs(dir, nil, clients); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newKey(t *testing.T, subject, role string, spread bool) testserver.Key {
	t.Helper()
	k, err := testserver.NewKey(subject, role, spread)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKeys writes a keys file of the given TOML entries.
func writeKeys(t *testing.T, entries ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.toml")
	if err := os.WriteFile(path, []byte(strings.Join(entries, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer starts a demo server with extra serve arguments, stopped when
// the test ends.
func startServer(t *testing.T, args ...string) *testserver.Server {
	t.Helper()
	srv, err := testserver.StartWith(testserver.Options{Seed: testSeed, Facts: authFacts, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stopping duckgrid: %v", err)
		}
	})
	return srv
}

func tlsArgs(certs string) []string {
	return []string{"--tls-cert", filepath.Join(certs, "server.pem"), "--tls-key", filepath.Join(certs, "server.key")}
}

// dial connects with duckgrid.Dial; the connection is closed when the test ends.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) duckgridv1.GridServiceClient {
	t.Helper()
	conn, err := duckgrid.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return duckgridv1.NewGridServiceClient(conn)
}

// shortCtx bounds the calls that should fail fast (a failed handshake).
func shortCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantError checks err's gRPC code and, unless reason is "", its ErrorInfo
// (domain duckgrid, reason).
func wantError(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %v %s", what, code, reason)
		return
	}
	if got := status.Code(err); got != code {
		t.Errorf("%s: %v, want code %v", what, err, code)
		return
	}
	if reason == "" {
		return
	}
	info, ok := duckgrid.ErrorInfo(err)
	if !ok {
		t.Errorf("%s: %v carries no ErrorInfo, want reason %s", what, err, reason)
		return
	}
	if info.GetReason() != reason || info.GetDomain() != duckgrid.ErrorDomain {
		t.Errorf("%s: ErrorInfo %s/%s, want %s/%s", what, info.GetDomain(), info.GetReason(), duckgrid.ErrorDomain, reason)
	}
}

// leafCell returns the first leaf cell of the product sheet in a month column
// and its value.
func leafCell(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, col, m string) (*duckgridv1.CellRef, string, int64) {
	t.Helper()
	g := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet})
	leaf, err := duckgrid.FirstLeaf(g)
	if err != nil {
		t.Fatal(err)
	}
	return duckgrid.Cell(productSheet, leaf.GetPath(), col, m), newIndex(g).value(t, leaf.GetPath(), col, m), g.GetRevision()
}

// otherValue returns a, or b when the cell already holds a.
func otherValue(old, a, b string) string {
	if old == a {
		return b
	}
	return a
}

// actorOf reads the actor of revision rev from WatchUpdates.
func actorOf(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, rev int64) string {
	t.Helper()
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.WatchUpdates(streamCtx, &duckgridv1.WatchUpdatesRequest{Sheet: productSheet, StartRevision: rev})
	if err != nil {
		t.Fatal(err)
	}
	ev := recvChange(t, stream)
	if ev.GetRevision() != rev {
		t.Fatalf("WatchUpdates from %d delivered revision %d first", rev, ev.GetRevision())
	}
	return ev.GetActor()
}

// writeLeafAs writes one of a or b (whichever it does not hold) to the
// first leaf cell in column col, measure m, and checks the actor recorded.
func writeLeafAs(t *testing.T, ctx context.Context, c duckgridv1.GridServiceClient, col, m, a, b, want, why string) {
	t.Helper()
	cell, old, _ := leafCell(t, ctx, c, col, m)
	resp, err := c.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: otherValue(old, a, b)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actorOf(t, ctx, c, resp.GetRevision()); got != want {
		t.Errorf("actor = %q, want %s (%s)", got, want, why)
	}
}

func TestTokenCredentials(t *testing.T) {
	tok := duckgrid.TokenCredentials("dg_" + strings.Repeat("ab", 32))
	md, err := tok.GetRequestMetadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 1 || md["authorization"] != "Bearer dg_"+strings.Repeat("ab", 32) {
		t.Errorf("metadata = %v", md)
	}
	if tok.RequireTransportSecurity() {
		t.Error("RequireTransportSecurity() = true: a token could not be sent over plaintext")
	}
	for _, bad := range []string{"", "dg_x\n", "dg x"} {
		_, err := duckgrid.TokenCredentials(bad).GetRequestMetadata(context.Background())
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("token %q: %v, want UNAUTHENTICATED", bad, err)
		}
	}
}

func TestDialRejectsBadTLSOptions(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]grpc.DialOption{
		"missing CA file":   {duckgrid.WithCAFile(filepath.Join(dir, "nope.pem"))},
		"CA file not PEM":   {duckgrid.WithCAFile(junk)},
		"CA PEM not PEM":    {duckgrid.WithCAPEM([]byte("junk"))},
		"cert without key":  {duckgrid.WithClientCertFiles(junk, "")},
		"cert not PEM":      {duckgrid.WithClientCertFiles(junk, junk)},
		"cert PEM only":     {duckgrid.WithClientCertPEM([]byte("junk"), nil)},
		"files and PEM set": {duckgrid.WithTLS(duckgrid.TLSConfig{CertFile: junk, KeyFile: junk, CertPEM: []byte("x"), KeyPEM: []byte("y")})},
	}
	for name, opts := range cases {
		if conn, err := duckgrid.Dial("127.0.0.1:1", opts...); err == nil {
			conn.Close()
			t.Errorf("%s: Dial succeeded", name)
		}
	}
}

// TestAuthTLS: a server with --tls-cert/--tls-key and --auth-file.
func TestAuthTLS(t *testing.T) {
	certs := newCerts(t)
	otherCerts := newCerts(t) // another CA, which the server's certificate is not from
	writer := newKey(t, "alice", "writer", false)
	reader := newKey(t, "bob", "reader", false)
	srv := startServer(t, append(tlsArgs(certs), "--auth-file", writeKeys(t, writer.Entry, reader.Entry))...)
	ca := filepath.Join(certs, "ca.pem")
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	w := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithToken(writer.Token))

	t.Run("WriterListsReadsAndWritesAsItsSubject", func(t *testing.T) {
		ctx := testCtx(t)
		sheets, err := duckgrid.ListSheets(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := duckgrid.FindSheet(sheets, productSheet); err != nil {
			t.Fatal(err)
		}
		cell, old, rev := leafCell(t, ctx, w, "2024-05", "net_amount")
		v := otherValue(old, "777.25", "777.50")
		resp, err := w.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetRevision() != rev+1 || resp.GetResult().GetNewValue() != v || resp.GetResult().GetPreviousValue() != old {
			t.Errorf("UpdateCell = revision %d, %v; want revision %d, %q -> %q", resp.GetRevision(), resp.GetResult(), rev+1, old, v)
		}
		if got := actorOf(t, ctx, w, resp.GetRevision()); got != "alice" {
			t.Errorf("actor of the write = %q, want the key's subject alice", got)
		}
		_, now, _ := leafCell(t, ctx, w, "2024-05", "net_amount")
		if now != v {
			t.Errorf("GetSheet after the write: %q, want %q", now, v)
		}
	})

	t.Run("NoTokenIsMissingCredentials", func(t *testing.T) {
		c, ctx := dial(t, srv.Addr, duckgrid.WithCAPEM(caPEM)), shortCtx(t)
		_, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
		wantError(t, "ListSheets without a token", err, codes.Unauthenticated, duckgrid.ReasonMissingCredentials)
		stream, err := c.WatchUpdates(ctx, &duckgridv1.WatchUpdatesRequest{Sheet: productSheet, SendSnapshot: true})
		if err == nil {
			_, err = stream.Recv()
		}
		wantError(t, "WatchUpdates without a token", err, codes.Unauthenticated, duckgrid.ReasonMissingCredentials)
	})

	t.Run("WrongTokenIsInvalidToken", func(t *testing.T) {
		c, ctx := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithToken("dg_"+strings.Repeat("0", 64))), shortCtx(t)
		_, err := c.ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
		wantError(t, "ListSheets with an unknown token", err, codes.Unauthenticated, duckgrid.ReasonInvalidToken)
	})

	t.Run("ReaderCannotWrite", func(t *testing.T) {
		r, ctx := dial(t, srv.Addr, duckgrid.WithCAPEM(caPEM), duckgrid.WithToken(reader.Token)), testCtx(t)
		cell, old, rev := leafCell(t, ctx, r, "2024-06", "net_amount")
		_, err := r.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: otherValue(old, "1.50", "2.50")}})
		wantError(t, "a reader's UpdateCell", err, codes.PermissionDenied, duckgrid.ReasonRoleNotAllowed)
		_, now, nowRev := leafCell(t, ctx, r, "2024-06", "net_amount")
		if now != old || nowRev != rev {
			t.Errorf("after the refused write: %q at revision %d, want %q at %d", now, nowRev, old, rev)
		}
	})

	t.Run("WriterWithoutSpreadCannotWriteAggregates", func(t *testing.T) {
		ctx := testCtx(t)
		_, err := w.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{
			Cell: duckgrid.Cell(productSheet, nil, "2024-07", "quantity"), Value: "123456"}})
		wantError(t, "a grand-total write without --spread", err, codes.PermissionDenied, duckgrid.ReasonSpreadingNotAllowed)
	})

	t.Run("WriterCannotImpersonate", func(t *testing.T) {
		ctx := testCtx(t)
		cell, old, _ := leafCell(t, ctx, w, "2024-08", "net_amount")
		_, err := w.UpdateCell(duckgrid.WithActor(ctx, "mallory"), &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: otherValue(old, "2.00", "3.00")}})
		wantError(t, "a writer's UpdateCell naming another actor", err, codes.PermissionDenied, duckgrid.ReasonImpersonationNotAllowed)
	})

	t.Run("UntrustedServerFailsToConnect", func(t *testing.T) {
		cases := map[string][]grpc.DialOption{
			"another CA":   {duckgrid.WithCAFile(filepath.Join(otherCerts, "ca.pem"))},
			"system roots": {duckgrid.WithTLS(duckgrid.TLSConfig{})},
			"wrong name":   {duckgrid.WithCAFile(ca), duckgrid.WithServerName("not-in-the-certificate.invalid")},
			"plaintext":    nil,
		}
		for name, opts := range cases {
			c := dial(t, srv.Addr, append(opts, duckgrid.WithToken(writer.Token))...)
			_, err := c.ListSheets(shortCtx(t), &duckgridv1.ListSheetsRequest{})
			wantError(t, name, err, codes.Unavailable, "")
		}
	})

	t.Run("ServerNameOverride", func(t *testing.T) {
		// The certificate's SANs hold localhost: verify against that name
		// while dialing the IP address.
		c := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithServerName("localhost"), duckgrid.WithToken(reader.Token))
		if _, err := c.ListSheets(shortCtx(t), &duckgridv1.ListSheetsRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("WatcherKeepsLocalCopy", func(t *testing.T) {
		ctx := testCtx(t)
		wt := &duckgrid.Watcher{Client: w, Sheet: productSheet, MinBackoff: 20 * time.Millisecond}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- wt.Run(runCtx, nil) }()
		waitFor(t, "the snapshot", 20*time.Second, func() bool { return wt.Revision() >= 0 })

		cell, old, _ := leafCell(t, ctx, w, "2025-02", "net_amount")
		v := otherValue(old, "4242.42", "4343.43")
		resp, err := w.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the write", 20*time.Second, func() bool { return wt.Revision() >= resp.GetRevision() })
		if got, _ := wt.Value(cell.GetRowPath(), cell.GetColumn(), cell.GetMeasure()); got != v {
			t.Errorf("watched cell = %q, want %q", got, v)
		}
		wt.DropStream() // the resumed stream is authenticated too
		resp, err = w.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{Cell: cell, Value: otherValue(v, "4444.44", "4545.45")}})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the write after a drop", 20*time.Second, func() bool { return wt.Revision() >= resp.GetRevision() })
		now := getGrid(t, ctx, w, &duckgridv1.GetSheetRequest{Name: productSheet})
		if d := wt.Diff(now, 5); len(d) > 0 {
			t.Errorf("watched copy differs from GetSheet at %d: %v", now.GetRevision(), d)
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})

	t.Run("Examples", func(t *testing.T) {
		ctx := testCtx(t)
		// watch takes the reader's token from $DUCKGRID_TOKEN; update's
		// --token (the writer's) overrides it, so the actor shows which won.
		t.Setenv("DUCKGRID_TOKEN", reader.Token)
		before := getGrid(t, ctx, w, &duckgridv1.GetSheetRequest{Name: productSheet})
		out, rest := runExamples(t, ctx, srv.Addr, []string{"--ca", ca}, "snapshot sheets/sales_by_product_family at revision ",
			[]string{"--ca", ca, "--token", writer.Token, "--column", "2024-10", "--measure", "net_amount", "--value", "654.00"})
		if !strings.Contains(out, `-> "654.00"`) {
			t.Errorf("update printed:\n%s", out)
		}
		want := "revision " + strconv.FormatInt(before.GetRevision()+1, 10) + ` by "alice"`
		if len(rest) == 0 || !strings.HasPrefix(rest[0], want) {
			t.Errorf("watch printed %q, want a line starting %q", rest, want)
		}
	})
}

// TestTokenOverPlaintext: a server with --auth-file and no TLS (a dev server
// on loopback) takes the same tokens over plaintext.
func TestTokenOverPlaintext(t *testing.T) {
	writer := newKey(t, "erin", "writer", true)
	srv := startServer(t, "--auth-file", writeKeys(t, writer.Entry))
	ctx := testCtx(t)

	_, err := dial(t, srv.Addr).ListSheets(ctx, &duckgridv1.ListSheetsRequest{})
	wantError(t, "ListSheets without a token", err, codes.Unauthenticated, duckgrid.ReasonMissingCredentials)

	w := dial(t, srv.Addr, duckgrid.WithToken(writer.Token))
	writeLeafAs(t, ctx, w, "2024-09", "quantity", "31", "32", "erin", "the key's subject")

	// The token per call instead of per connection.
	plain := dial(t, srv.Addr)
	if _, err := plain.ListSheets(ctx, &duckgridv1.ListSheetsRequest{}, grpc.PerRPCCredentials(duckgrid.TokenCredentials(writer.Token))); err != nil {
		t.Errorf("ListSheets with a per-call token: %v", err)
	}
}

// TestMutualTLS: a server with --client-ca and an auth file mapping the
// client certificate carol to a writer.
func TestMutualTLS(t *testing.T) {
	certs := newCerts(t, "carol")
	otherCerts := newCerts(t, "carol") // a carol certificate from another CA
	alice := newKey(t, "alice", "writer", false)
	carol := `[[principal]]
id = "carol-cert"
subject = "carol"
role = "writer"
certificate = "carol"
`
	srv := startServer(t, append(tlsArgs(certs), "--client-ca", filepath.Join(certs, "ca.pem"), "--auth-file", writeKeys(t, alice.Entry, carol))...)
	ca := filepath.Join(certs, "ca.pem")
	carolCert, carolKey := filepath.Join(certs, "client-carol.pem"), filepath.Join(certs, "client-carol.key")

	t.Run("ClientCertificateIsTheIdentity", func(t *testing.T) {
		c, ctx := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithClientCertFiles(carolCert, carolKey)), testCtx(t)
		writeLeafAs(t, ctx, c, "2024-04", "net_amount", "88.80", "99.90", "carol", "the certificate's Common Name")
	})

	t.Run("ClientCertificateAsPEM", func(t *testing.T) {
		certPEM, err := os.ReadFile(carolCert)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := os.ReadFile(carolKey)
		if err != nil {
			t.Fatal(err)
		}
		caPEM, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, srv.Addr, duckgrid.WithTLS(duckgrid.TLSConfig{CAPEM: caPEM, CertPEM: certPEM, KeyPEM: keyPEM}))
		if _, err := c.ListSheets(shortCtx(t), &duckgridv1.ListSheetsRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TokenWinsOverCertificate", func(t *testing.T) {
		c, ctx := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithClientCertFiles(carolCert, carolKey), duckgrid.WithToken(alice.Token)), testCtx(t)
		writeLeafAs(t, ctx, c, "2024-04", "quantity", "17", "18", "alice", "the token's subject wins over the certificate")
	})

	t.Run("WithoutTrustedClientCertificateFailsToConnect", func(t *testing.T) {
		cases := map[string][]grpc.DialOption{
			"no certificate":          {duckgrid.WithCAFile(ca)},
			"no certificate, a token": {duckgrid.WithCAFile(ca), duckgrid.WithToken(alice.Token)},
			"certificate of other CA": {duckgrid.WithCAFile(ca), duckgrid.WithClientCertFiles(filepath.Join(otherCerts, "client-carol.pem"), filepath.Join(otherCerts, "client-carol.key"))},
		}
		for name, opts := range cases {
			_, err := dial(t, srv.Addr, opts...).ListSheets(shortCtx(t), &duckgridv1.ListSheetsRequest{})
			wantError(t, name, err, codes.Unavailable, "")
		}
	})
}

// TestMutualTLSWithoutAuthFile: with --client-ca and no --auth-file every
// client with a valid certificate is a writer allowed to spread, whose actor
// is its Common Name.
func TestMutualTLSWithoutAuthFile(t *testing.T) {
	certs := newCerts(t, "dave")
	ca := filepath.Join(certs, "ca.pem")
	srv := startServer(t, append(tlsArgs(certs), "--client-ca", ca)...)
	c, ctx := dial(t, srv.Addr, duckgrid.WithCAFile(ca), duckgrid.WithClientCertFiles(filepath.Join(certs, "client-dave.pem"), filepath.Join(certs, "client-dave.key"))), testCtx(t)
	before := getGrid(t, ctx, c, &duckgridv1.GetSheetRequest{Name: productSheet, Columns: []string{"2024-02"}, Measures: []string{"quantity"}})
	v := otherValue(newIndex(before).value(t, nil, "2024-02", "quantity"), "50000", "60000")
	resp, err := c.UpdateCell(ctx, &duckgridv1.UpdateCellRequest{Edit: &duckgridv1.CellEdit{
		Cell: duckgrid.Cell(productSheet, nil, "2024-02", "quantity"), Value: v}})
	if err != nil {
		t.Fatalf("a grand-total write (spreading) with a client certificate: %v", err)
	}
	if resp.GetResult().GetNewValue() != v {
		t.Errorf("new value = %q, want %q", resp.GetResult().GetNewValue(), v)
	}
	if got := actorOf(t, ctx, c, resp.GetRevision()); got != "dave" {
		t.Errorf("actor = %q, want dave", got)
	}
	_, err = dial(t, srv.Addr, duckgrid.WithCAFile(ca)).ListSheets(shortCtx(t), &duckgridv1.ListSheetsRequest{})
	wantError(t, "no client certificate", err, codes.Unavailable, "")
}
