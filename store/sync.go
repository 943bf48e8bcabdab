package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/internal/strpool"
)

var _ bridge.Store = (*DB)(nil)

// Snapshot loads the matching keys and hashes of every stored user and group,
// in id order.
func (db *DB) Snapshot(ctx context.Context) (*bridge.Snapshot, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer tx.Rollback()
	var nu, ng int
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM groups)").Scan(&nu, &ng); err != nil {
		return nil, fmt.Errorf("snapshot: count: %w", err)
	}
	snap := &bridge.Snapshot{Users: make([]bridge.StoredUser, 0, nu), Groups: make([]bridge.StoredGroup, 0, ng)}
	var pool strpool.Pool // a million users are then a few thousand objects
	// In table order, sorted here: ordered by id, SQLite would visit the
	// table once per row through the id index.
	err = eachRow(ctx, tx, "SELECT id, external_id, CASE WHEN dn_norm = '' THEN dn ELSE dn_norm END, user_name_norm, member_key, hash, groups_hash FROM users",
		func(rows *sql.Rows) error {
			var u bridge.StoredUser
			var id, ext, dn, name, key, hash, groupsHash sql.RawBytes
			if err := rows.Scan(&id, &ext, &dn, &name, &key, &hash, &groupsHash); err != nil {
				return err
			}
			u.ID, u.ExternalID, u.DNNorm, u.UserNameNorm = pool.Bytes(id), pool.Bytes(ext), pool.Bytes(dn), pool.Bytes(name)
			u.MemberKey = u.UserNameNorm // most often the folded username (uid): kept once
			if !bytes.Equal(key, name) {
				u.MemberKey = pool.Bytes(key)
			}
			if u.Hash, err = storedDigest(hash); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			if u.GroupsHash, err = storedDigest(groupsHash); err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			snap.Users = append(snap.Users, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("snapshot users: %w", err)
	}
	sortUsersByID(snap.Users)
	err = eachRow(ctx, tx, "SELECT id, external_id, dn_norm, name_norm, hash, members_hash, created FROM groups ORDER BY id",
		func(rows *sql.Rows) error {
			var g bridge.StoredGroup
			var created string
			if err := rows.Scan(&g.ID, &g.ExternalID, &g.DNNorm, &g.NameNorm, &g.Hash, &g.MembersHash, &created); err != nil {
				return err
			}
			if g.Created, err = parseTS(created); err != nil {
				return fmt.Errorf("group %s: %w", g.ID, err)
			}
			snap.Groups = append(snap.Groups, g)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("snapshot groups: %w", err)
	}
	return snap, nil
}

// sortUsersByID puts stored users in id order. They come in table order (a
// bulk load's is the order it read them): swapping a million 100-byte
// records under a string comparison took over a second, so this sorts
// their places by an 8-byte prefix of the id (the id decides ties) and then
// moves each record once, along the cycles of that permutation.
func sortUsersByID(us []bridge.StoredUser) {
	if slices.IsSortedFunc(us, func(a, b bridge.StoredUser) int { return strings.Compare(a.ID, b.ID) }) {
		return
	}
	type place struct {
		prefix uint64
		from   int // the record that belongs here; -1 once moved
	}
	places := make([]place, len(us))
	for i := range us {
		var b [8]byte
		copy(b[:], us[i].ID) // zero padding keeps the order of shorter ids
		places[i] = place{binary.BigEndian.Uint64(b[:]), i}
	}
	slices.SortFunc(places, func(a, b place) int {
		switch {
		case a.prefix < b.prefix:
			return -1
		case a.prefix > b.prefix:
			return 1
		}
		return strings.Compare(us[a.from].ID, us[b.from].ID)
	})
	for start := range places {
		if places[start].from < 0 || places[start].from == start {
			continue
		}
		held := us[start]
		at := start
		for {
			from := places[at].from
			places[at].from = -1
			if from == start {
				us[at] = held
				break
			}
			us[at] = us[from]
			at = from
		}
	}
}

// storedDigest reads a user's stored hash: its 16 bytes (hashValue), or 32
// hex digits as stores before those were written.
func storedDigest(b []byte) (bridge.Digest, error) {
	var d bridge.Digest
	if len(b) == len(d) {
		copy(d[:], b)
		return d, nil
	}
	return bridge.ParseDigest(b)
}

// querier is a transaction or the pool (*sql.Tx, *sql.DB).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eachRow runs query and calls fn for every row.
func eachRow(ctx context.Context, q querier, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Memberships returns the stored memberships of the given users: the groups
// that list them as members (direct) and those groups' ancestors in the
// nesting closure (indirect unless also direct), each group once, in group id
// order. Users without any are absent.
func (db *DB) Memberships(ctx context.Context, userIDs []string) (map[string][]bridge.Membership, error) {
	out := make(map[string][]bridge.Membership)
	if len(userIDs) == 0 {
		return out, nil
	}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer tx.Rollback()
	groups, err := transitiveGroups(ctx, tx, userIDs, func() (map[string]*groupNode, error) { return everyGroupNode(ctx, tx) })
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	for uid, gs := range groups {
		slices.SortFunc(gs, byID)
		ms := make([]bridge.Membership, len(gs))
		for i, g := range gs {
			ms[i] = bridge.Membership{GroupID: g.id, Direct: g.direct}
		}
		out[uid] = ms
	}
	return out, nil
}

// StartRun records r as running (setting r.Status, and r.StartedAt when zero)
// and assigns r.ID.
func (db *DB) StartRun(ctx context.Context, r *bridge.Report) error {
	r.Status = bridge.StatusRunning
	if r.StartedAt.IsZero() {
		r.StartedAt = now()
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("start run: encode report: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO sync_runs (trigger, dry_run, status, started_at, report)
		VALUES (?, ?, ?, ?, ?)`, r.Trigger, r.DryRun, r.Status, formatTS(r.StartedAt), string(doc))
	if err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	return nil
}

// FinishRun records the final state of run r.ID: status, finish time and report.
func (db *DB) FinishRun(ctx context.Context, r *bridge.Report) error {
	if err := finishRun(ctx, db.w, r); err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func finishRun(ctx context.Context, e execer, r *bridge.Report) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	res, err := e.ExecContext(ctx, `UPDATE sync_runs SET status = ?, finished_at = ?, report = ? WHERE id = ?`,
		r.Status, formatTS(r.FinishedAt), string(doc), r.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errors.New("no such run")
	}
	return nil
}

// Apply writes the plan and records run r in one transaction: all or nothing.
// Deletions go first, then updates, then insertions, so a username may move
// between users (or to a new user) within one plan. A large insertion into a
// table holding fewer rows (the first sync) rebuilds the table's secondary
// indexes once at the end instead of updating them row by row. A plan that
// writes nothing only records the run. With r nil, no run is recorded and
// changes get run id 0.
func (db *DB) Apply(ctx context.Context, p *bridge.Plan, r *bridge.Report) error {
	if p == nil || p.Empty() {
		if r == nil {
			return nil
		}
		return db.FinishRun(ctx, r)
	}
	tx, err := db.Begin(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return tx.Commit(p, r)
}

// Begin opens one run's write transaction (see bridge.Tx). It holds the
// store's one writer connection until Commit or Rollback.
func (db *DB) Begin(ctx context.Context, changeLog bool) (bridge.Tx, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("apply plan: begin: %w", err)
	}
	return &runTx{db: db, a: newApplier(ctx, tx, !changeLog)}, nil
}

// runTx is a run's open write transaction.
type runTx struct {
	db      *DB
	a       applier
	users   *batcher // users created while the directory is still being read
	changes *batcher // and their create changes
	at      string   // the time of those changes
	// firstSeq is the change log's last seq before this transaction's
	// streamed changes; takenBack are users deleted again, whose changes
	// go at commit, in one pass over this run's changes.
	firstSeq  int64
	takenBack []string
	done      bool
}

// CreateUsers inserts new users in the order given (ids ascending append to
// the table), with rowids it assigns and keeps for their memberships at
// Commit. The first call that brings as many rows as the table holds, and
// at least bulkMinRows, rebuilds the users' indexes at Commit instead.
func (t *runTx) CreateUsers(runID int64, rows []bridge.UserRow) error {
	if t.done {
		return errTxDone
	}
	if t.users == nil {
		if err := t.a.bulkLoad("users", len(rows)); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
		t.users = newBatcher(t.a.ctx, t.a.tx, userInsert, 20)
		t.users.named = 1
		if !t.a.noLog {
			t.changes = newBatcher(t.a.ctx, t.a.tx, changeInsert, 6)
			t.at = formatTS(now())
			if err := t.a.tx.QueryRowContext(t.a.ctx, "SELECT coalesce(max(seq), 0) FROM changes").Scan(&t.firstSeq); err != nil {
				return fmt.Errorf("append change log: %w", err)
			}
		}
	}
	for i := range rows {
		u := &rows[i]
		rid, err := t.a.users.assign(t.a.ctx, t.a.tx, u.ID)
		if err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
		if err := t.users.add(userRowArgs(rid, u)...); err != nil {
			return fmt.Errorf("insert users: %w", err)
		}
	}
	if t.changes == nil {
		return nil
	}
	for i := range rows {
		u := &rows[i]
		if err := t.changes.add(runID, bridge.MemberUser, u.ID, bridge.OpCreate, u.UserName, t.at); err != nil {
			return fmt.Errorf("append change log: %w", err)
		}
	}
	return nil
}

// DeleteCreated removes users this transaction created (an entry that lost
// its username to a duplicate read later). They are in no group yet.
func (t *runTx) DeleteCreated(ids []string) error {
	if t.done {
		return errTxDone
	}
	if err := t.flushUsers(); err != nil {
		return err
	}
	res, err := t.a.tx.ExecContext(t.a.ctx, "DELETE FROM users WHERE id IN (SELECT value FROM json_each(?))", idsJSON(ids))
	if err != nil {
		return fmt.Errorf("take back %d created users: %w", len(ids), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("take back %d created users: %w", len(ids), err)
	} else if n != int64(len(ids)) {
		return fmt.Errorf("take back %d created users: %d were stored", len(ids), n)
	}
	t.a.users.forget(ids)
	t.takenBack = append(t.takenBack, ids...)
	return nil
}

// dropTakenBack deletes the create changes of the users taken back.
func (t *runTx) dropTakenBack() error {
	if len(t.takenBack) == 0 || t.a.noLog {
		return nil
	}
	if _, err := t.a.tx.ExecContext(t.a.ctx, `DELETE FROM changes WHERE seq > ? AND resource_type = ?
		AND resource_id IN (SELECT value FROM json_each(?))`, t.firstSeq, bridge.MemberUser, idsJSON(t.takenBack)); err != nil {
		return fmt.Errorf("take back %d created users' changes: %w", len(t.takenBack), err)
	}
	t.takenBack = nil
	return nil
}

// UsersDone ends the users written during the read: the last of them are
// written and, after a bulk load, the users' indexes are rebuilt now, while
// the caller computes the rest of the plan.
func (t *runTx) UsersDone() error {
	if t.done {
		return errTxDone
	}
	if err := t.endUsers(); err != nil {
		return err
	}
	if err := t.a.restoreIndexes("users"); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	return nil
}

// endUsers writes the last users of the read and drops the changes of
// those taken back.
func (t *runTx) endUsers() error {
	if err := t.flushUsers(); err != nil {
		return err
	}
	t.closeUsers()
	return t.dropTakenBack()
}

func (t *runTx) flushUsers() error {
	if t.users == nil {
		return nil
	}
	if err := t.users.flush(); err != nil {
		return fmt.Errorf("insert users: %w", err)
	}
	if t.changes == nil {
		return nil
	}
	if err := t.changes.flush(); err != nil {
		return fmt.Errorf("append change log: %w", err)
	}
	return nil
}

// closeUsers ends the streamed insertions.
func (t *runTx) closeUsers() {
	if t.users != nil {
		t.users.close()
		if t.changes != nil {
			t.changes.close()
		}
		t.users, t.changes = nil, nil
	}
}

// Commit writes the rest of the plan, records run r (unless nil) and commits.
func (t *runTx) Commit(p *bridge.Plan, r *bridge.Report) error {
	if t.done {
		return errTxDone
	}
	defer t.Rollback()
	if err := t.endUsers(); err != nil {
		return fmt.Errorf("apply plan: %w", err)
	}
	var runID int64
	if r != nil {
		runID = r.ID
	}
	if p == nil {
		p = &bridge.Plan{}
	}
	t.a.p = p
	if err := t.a.apply(runID); err != nil {
		return fmt.Errorf("apply plan: %w", err)
	}
	if r != nil {
		r.FinishedAt = now()
		r.DurationMs = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
		if err := finishRun(t.a.ctx, t.a.tx, r); err != nil {
			return fmt.Errorf("apply plan: record run %d: %w", r.ID, err)
		}
	}
	if err := t.a.tx.Commit(); err != nil {
		return fmt.Errorf("apply plan: commit: %w", err)
	}
	t.done = true
	t.db.gen.bump()
	return nil
}

// Rollback discards the transaction; after Commit it does nothing.
func (t *runTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.closeUsers()
	if err := t.a.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("roll back the run: %w", err)
	}
	return nil
}

var errTxDone = errors.New("the run's transaction has ended")
