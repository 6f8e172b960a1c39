package duckgrid

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/duckgrid/duckgrid/clients/go/duckgridv1"
)

const (
	// SessionHeader is the request metadata key naming the client session a
	// write comes from (printable ASCII, at most 128 characters); it comes
	// back as ChangeEvent.session_id and is what UndoOptions.SessionID
	// matches.
	SessionHeader = "x-duckgrid-session"

	// ErrorInfo reasons of the history calls.
	//
	// ReasonRevisionConflict: a revert or undo whose facts a later revision
	// changed (ABORTED); metadata "conflicting_revisions" (see
	// ConflictingRevisions) and "revision" (the target). Overwrite reverts
	// anyway.
	ReasonRevisionConflict = "REVISION_CONFLICT"
	// ReasonHeadMoved: an expected head that is no longer the head
	// (ABORTED); metadata "head_revision".
	ReasonHeadMoved = "HEAD_MOVED"
	// ReasonNothingToUndo: Undo found none of the caller's revisions in
	// effect (in the session, if one was given) (FAILED_PRECONDITION).
	ReasonNothingToUndo = "NOTHING_TO_UNDO"
	// ReasonRevisionOutOfRange: a revision older than the retained fact
	// history or newer than the head (OUT_OF_RANGE); metadata
	// "oldest_revision" and "head_revision".
	ReasonRevisionOutOfRange = "REVISION_OUT_OF_RANGE"
)

// WithSession returns a context whose outgoing calls name session as the
// client session of their writes (UpdateCell, BatchUpdateCells), so that
// Undo can be scoped to it.
func WithSession(ctx context.Context, session string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, SessionHeader, session)
}

// HistoryEntry is one revision that changed a cell, as CellHistory lists it.
type HistoryEntry struct {
	Revision   int64
	CommitTime time.Time
	Actor      string
	RequestID  string
	SessionID  string
	// Before and After are the cell's values before and after the revision
	// ("" is an empty cell).
	Before, After string
	// RevertsRevision is, for a revert (RevertRevision or Undo), the
	// revision it took back; 0 for an edit.
	RevertsRevision int64
	// RevertedBy is the revert in effect that took this revision back; 0
	// when it is in effect.
	RevertedBy int64
}

// HistoryOptions tune CellHistory.
type HistoryOptions struct {
	// Limit stops after this many entries (0: the whole retained history).
	Limit int
	// PageSize is the ListRevisions page size (0: the server's default of
	// 50, at most 1000).
	PageSize int32
	// OldestFirst lists the oldest revision first instead of the newest.
	OldestFirst bool
}

// CellHistory returns who changed one cell: the revisions that changed it,
// newest first, following ListRevisions' pages (with the cell filter) until
// the last one or opts.Limit entries.
//
//	entries, err := duckgrid.CellHistory(ctx, client, duckgrid.Cell(sheet, path, "2024-03", "quantity"), duckgrid.HistoryOptions{Limit: 20})
func CellHistory(ctx context.Context, client duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, opts HistoryOptions, callOpts ...grpc.CallOption) ([]HistoryEntry, error) {
	var entries []HistoryEntry
	for e, err := range CellHistorySeq(ctx, client, cell, opts, callOpts...) {
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// CellHistorySeq is CellHistory as an iterator: it asks for each page as
// the loop reaches it, and stops asking when the loop stops. An error ends
// the sequence (it is yielded once, with a zero entry).
func CellHistorySeq(ctx context.Context, client duckgridv1.GridServiceClient, cell *duckgridv1.CellRef, opts HistoryOptions, callOpts ...grpc.CallOption) iter.Seq2[HistoryEntry, error] {
	return func(yield func(HistoryEntry, error) bool) {
		if cell == nil {
			yield(HistoryEntry{}, errors.New("duckgrid: cell history: no cell"))
			return
		}
		pageSize := opts.PageSize
		if opts.Limit > 0 && (pageSize <= 0 || int(pageSize) > opts.Limit) {
			pageSize = int32(min(opts.Limit, 1000))
		}
		n, token := 0, ""
		for {
			resp, err := client.ListRevisions(ctx, &duckgridv1.ListRevisionsRequest{
				Cell: cell, PageSize: pageSize, PageToken: token, OldestFirst: opts.OldestFirst,
			}, callOpts...)
			if err != nil {
				yield(HistoryEntry{}, err)
				return
			}
			for _, r := range resp.GetRevisions() {
				e, err := historyEntry(cell, r)
				if !yield(e, err) || err != nil {
					return
				}
				if n++; opts.Limit > 0 && n >= opts.Limit {
					return
				}
			}
			// A page may hold fewer than asked, even none, while more follow.
			if token = resp.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}

// historyEntry reads one ListRevisions entry of a cell filter: its changes
// hold the cell with its value before and after.
func historyEntry(cell *duckgridv1.CellRef, r *duckgridv1.Revision) (HistoryEntry, error) {
	ev := r.GetChange()
	e := HistoryEntry{
		Revision:        ev.GetRevision(),
		Actor:           ev.GetActor(),
		RequestID:       ev.GetRequestId(),
		SessionID:       ev.GetSessionId(),
		RevertsRevision: ev.GetRevertsRevision(),
		RevertedBy:      r.GetRevertedBy(),
	}
	if t := ev.GetCommitTime(); t != nil {
		e.CommitTime = t.AsTime()
	}
	for _, sc := range ev.GetChanges() {
		if sc.GetSheet() != cell.GetSheet() {
			continue
		}
		for _, c := range sc.GetCells() {
			if c.GetColumn() == cell.GetColumn() && c.GetMeasure() == cell.GetMeasure() && slices.Equal(c.GetRowPath(), cell.GetRowPath()) {
				e.Before, e.After = c.GetPreviousValue(), c.GetValue()
				return e, nil
			}
		}
	}
	return HistoryEntry{}, fmt.Errorf("duckgrid: cell history: revision %d does not hold the cell [%s] %s %s of %s",
		e.Revision, FormatPath(cell.GetRowPath()), cell.GetColumn(), cell.GetMeasure(), cell.GetSheet())
}

// UndoOptions are the fields of an UndoRequest.
type UndoOptions struct {
	// SessionID undoes only among the caller's writes sent with this
	// session (WithSession); "" undoes the caller's latest in any session.
	SessionID string
	// ExpectedHead, when set, applies the undo only while the head is this
	// revision (else ABORTED, ReasonHeadMoved).
	ExpectedHead *int64
	// Overwrite reverts even when later revisions changed the same facts
	// (else ABORTED, ReasonRevisionConflict).
	Overwrite bool
	// RequestID is the idempotency key, as for UpdateCell.
	RequestID string
}

// Undo reverts the caller's latest revision that is in effect (not itself
// a revert, not already reverted) and returns the new revision, whose
// Change.RevertsRevision is the one taken back. The caller is the actor of
// ctx (WithActor) with auth off, else the credentials' subject. With
// nothing to undo it fails with FAILED_PRECONDITION, ReasonNothingToUndo.
//
//	rev, err := duckgrid.Undo(duckgrid.WithActor(ctx, "alice"), client, duckgrid.UndoOptions{SessionID: session})
func Undo(ctx context.Context, client duckgridv1.GridServiceClient, opts UndoOptions, callOpts ...grpc.CallOption) (*duckgridv1.Revision, error) {
	resp, err := client.Undo(ctx, &duckgridv1.UndoRequest{
		SessionId: opts.SessionID, ExpectedHead: opts.ExpectedHead, Overwrite: opts.Overwrite, RequestId: opts.RequestID,
	}, callOpts...)
	if err != nil {
		return nil, err
	}
	return resp.GetRevision(), nil
}

// ConflictingRevisions returns the later revisions that changed the facts
// of a revert or undo (ABORTED with reason REVISION_CONFLICT), ascending.
func ConflictingRevisions(err error) ([]int64, bool) {
	info, ok := ErrorInfo(err)
	if !ok || info.GetReason() != ReasonRevisionConflict {
		return nil, false
	}
	s, ok := info.GetMetadata()["conflicting_revisions"]
	if !ok {
		return nil, false
	}
	var revs []int64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, false
		}
		revs = append(revs, r)
	}
	return revs, true
}
