package store

import (
	"context"
	"fmt"
)

// PushCounts returns how much the push client has not delivered: change log
// entries after the push cursor plus resources marked pending, and the
// resources the target refused (failed).
func (db *DB) PushCounts(ctx context.Context) (pending, failed int, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM changes WHERE seq > coalesce((SELECT seq FROM push_cursor WHERE id = 1), 0))
		+ (SELECT count(*) FROM push_state WHERE status = ?),
		(SELECT count(*) FROM push_state WHERE status = ?)`, PushPending, PushFailed).Scan(&pending, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("count undelivered push changes: %w", err)
	}
	return pending, failed, nil
}
