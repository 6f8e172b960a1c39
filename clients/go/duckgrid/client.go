// Package duckgrid is the hand-written part of the Go client for duckgrid, the
// real-time multi-user planning grid: dialing (plaintext or TLS, with a
// bearer token or a client certificate), request metadata, reading the
// structured error details, a local copy of a sheet (LocalGrid), a watcher
// that keeps it current across disconnects (Watcher), and a cell's history
// and undo (CellHistory, Undo, WithSession).
//
// The generated messages and the gRPC stubs live in package duckgridv1
// (github.com/duckgrid/duckgrid/clients/go/duckgridv1).
package duckgrid

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

const (
	// MaxMessageSize is the receive limit the client sets: snapshots and the
	// change events of large spreads can exceed gRPC's 4 MiB default.
	MaxMessageSize = 64 << 20

	// ActorHeader is the request metadata key naming who makes a write; it
	// comes back as ChangeEvent.actor.
	ActorHeader = "x-duckgrid-actor"

	// ErrorDomain is the google.rpc.ErrorInfo domain of every duckgrid error.
	ErrorDomain = "duckgrid"
	// ReasonExpectedValueMismatch is the ErrorInfo reason of a failed
	// compare-and-set (gRPC code ABORTED); its metadata carries "current_value".
	ReasonExpectedValueMismatch = "EXPECTED_VALUE_MISMATCH"

	// ErrorInfo reasons of a server started with --auth-file.
	//
	// ReasonMissingCredentials: no token and no client certificate
	// (UNAUTHENTICATED).
	ReasonMissingCredentials = "MISSING_CREDENTIALS"
	// ReasonInvalidToken: a token the server does not know (UNAUTHENTICATED).
	ReasonInvalidToken = "INVALID_TOKEN"
	// ReasonRoleNotAllowed: the key's role may not make this call, e.g. a
	// reader's write (PERMISSION_DENIED).
	ReasonRoleNotAllowed = "ROLE_NOT_ALLOWED"
	// ReasonSpreadingNotAllowed: a writer without spread writing an aggregate
	// cell (PERMISSION_DENIED).
	ReasonSpreadingNotAllowed = "SPREADING_NOT_ALLOWED"
	// ReasonImpersonationNotAllowed: a non-admin sending ActorHeader
	// (PERMISSION_DENIED); the actor of a write is the key's subject.
	ReasonImpersonationNotAllowed = "IMPERSONATION_NOT_ALLOWED"

	// TotalColumn is the key of every sheet's total column.
	TotalColumn = "total"
)

// Dial creates a client connection to a duckgrid server at addr
// ("127.0.0.1:50051") with a 64 MiB receive limit: plaintext, or TLS when
// opts hold a TLS option (WithTLS, WithCAFile, WithCAPEM,
// WithClientCertFiles, WithClientCertPEM, WithServerName; they are merged
// into one TLSConfig). Other options are appended (WithToken, or any gRPC
// dial option; a grpc.WithTransportCredentials given here wins over both).
//
//	conn, err := duckgrid.Dial("127.0.0.1:50051",
//		duckgrid.WithCAFile("certs/ca.pem"), duckgrid.WithToken(os.Getenv("DUCKGRID_TOKEN")))
func Dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds, rest, err := transport(opts)
	if err != nil {
		return nil, fmt.Errorf("duckgrid: connect to %s: %w", addr, err)
	}
	all := append([]grpc.DialOption{
		creds,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize)),
	}, rest...)
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, fmt.Errorf("duckgrid: connect to %s: %w", addr, err)
	}
	return conn, nil
}

func insecureCredentials() grpc.DialOption {
	return grpc.WithTransportCredentials(insecure.NewCredentials())
}

// WithActor returns a context whose outgoing calls name actor as the writer.
// A server started with --auth-file records the key's subject instead and
// accepts the header from admin keys only (else PERMISSION_DENIED,
// ReasonImpersonationNotAllowed).
func WithActor(ctx context.Context, actor string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, ActorHeader, actor)
}

// ErrorInfo returns the google.rpc.ErrorInfo carried by a gRPC error, if any.
func ErrorInfo(err error) (*errdetails.ErrorInfo, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return nil, false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info, true
		}
	}
	return nil, false
}

// CurrentValue returns the cell's current value from a compare-and-set
// conflict (ABORTED with reason EXPECTED_VALUE_MISMATCH).
func CurrentValue(err error) (string, bool) {
	info, ok := ErrorInfo(err)
	if !ok || info.GetReason() != ReasonExpectedValueMismatch {
		return "", false
	}
	v, ok := info.GetMetadata()["current_value"]
	return v, ok
}

// Cell builds a CellRef.
func Cell(sheet string, rowPath []string, column, measure string) *duckgridv1.CellRef {
	return &duckgridv1.CellRef{Sheet: sheet, RowPath: rowPath, Column: column, Measure: measure}
}

// ListSheets returns every sheet of the model, in model order (following
// ListSheets' pages).
func ListSheets(ctx context.Context, client duckgridv1.GridServiceClient) ([]*duckgridv1.Sheet, error) {
	var sheets []*duckgridv1.Sheet
	token := ""
	for {
		resp, err := client.ListSheets(ctx, &duckgridv1.ListSheetsRequest{PageToken: token})
		if err != nil {
			return nil, err
		}
		sheets = append(sheets, resp.GetSheets()...)
		if token = resp.GetNextPageToken(); token == "" {
			return sheets, nil
		}
	}
}

// FindSheet returns the sheet named name ("sheets/budget_by_account").
func FindSheet(sheets []*duckgridv1.Sheet, name string) (*duckgridv1.Sheet, error) {
	var names []string
	for _, s := range sheets {
		if s.GetName() == name {
			return s, nil
		}
		names = append(names, s.GetName())
	}
	return nil, fmt.Errorf("duckgrid: no sheet %q (the model has %s)", name, strings.Join(names, ", "))
}

// IsMonthColumn reports whether a column is one month (Column.kind MONTH).
// From a server that does not set kinds, every column but the total is a
// month.
func IsMonthColumn(c *duckgridv1.Column) bool {
	if c.GetKind() == duckgridv1.ColumnKind_COLUMN_KIND_UNSPECIFIED {
		return !c.GetTotal()
	}
	return c.GetKind() == duckgridv1.ColumnKind_COLUMN_KIND_MONTH
}

// MonthColumns returns the keys of a sheet's month columns, in order (no
// quarter, year or total columns).
func MonthColumns(s *duckgridv1.Sheet) []string {
	var keys []string
	for _, c := range s.GetColumns() {
		if IsMonthColumn(c) {
			keys = append(keys, c.GetKey())
		}
	}
	return keys
}

// FirstMonthColumn returns the key of a sheet's first month column ("2024-01").
func FirstMonthColumn(s *duckgridv1.Sheet) (string, error) {
	for _, c := range s.GetColumns() {
		if IsMonthColumn(c) {
			return c.GetKey(), nil
		}
	}
	return "", fmt.Errorf("duckgrid: sheet %s has no month column", s.GetName())
}

// FirstLeaf returns the first leaf row of a grid (hierarchy order).
func FirstLeaf(g *duckgridv1.Grid) (*duckgridv1.Row, error) {
	for _, r := range g.GetRows() {
		if r.GetLeaf() {
			return r, nil
		}
	}
	return nil, errors.New("duckgrid: grid has no leaf row")
}

// ParsePath splits a "/"-separated row path ("Acme/Acme Select/Coffee"); ""
// is the grand total.
func ParsePath(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "/")
}

// FormatPath joins a row path with "/" (the grand total is "").
func FormatPath(path []string) string { return strings.Join(path, "/") }
