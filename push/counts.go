package push

import (
	"context"

	"github.com/scimbridge/scimbridge/store"
)

// Counts is what Status says in three numbers, for a status panel.
type Counts struct {
	// PendingChanges counts change log entries not pushed yet.
	PendingChanges int
	// Pending counts resources whose last request was never answered.
	Pending int
	// Failed counts resources whose last attempt failed (retried next run).
	Failed int
}

// Counts counts what the push client has not delivered.
func (c *Client) Counts(ctx context.Context) (Counts, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return Counts{}, err
	}
	n := Counts{PendingChanges: st.PendingChanges}
	for _, it := range st.Items {
		switch it.Status {
		case store.PushPending:
			n.Pending++
		case store.PushFailed:
			n.Failed++
		}
	}
	return n, nil
}
