// Package store is scimbridge's state store: one SQLite file (modernc.org/sqlite,
// pure Go) holding the synced users, groups and memberships, the sync runs, the
// settings document and the change log the push client drains.
//
// The sync side implements bridge.Store; the read side (ListUsers, GetUser,
// ListGroups, GetGroup) serves the SCIM server and compiles filters (Expr) to
// parameterised SQL.
//
// SQLite allows one writer at a time, so a DB keeps two pools: a single writer
// connection whose transactions begin IMMEDIATE, and a small pool of read-only
// connections. In WAL mode readers see the last committed state and are never
// blocked by a long sync transaction.
//
//	db, err := store.Open(ctx, "/var/lib/scimbridge/state.db")
//	if err != nil { ... }
//	defer db.Close()
//	total, users, err := db.ListUsers(ctx, store.Query{Count: 100, SortBy: "userName"})
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// DB is an open state store. It is safe for concurrent use.
type DB struct {
	w       *sql.DB    // the one writer connection
	r       *sql.DB    // read-only connections
	path    string     // the database file; its sync lock file is path + ".lock"
	cursors cursors    // where the next page of a list walk starts
	gen     generation // bumped by writes to users and groups
	groups  groupCache // every group's name and ancestors, per read connection
}

// readConns is the size of the read pool: the machine this runs on is small,
// and SQLite reads are CPU-bound once the pages are cached.
const readConns = 4

// lowerFunc is the SQL name of strings.ToLower, the same case folding the
// bridge uses for user_name_norm and name_norm (SQLite's lower() folds ASCII only).
const lowerFunc = "scimbridge_lower"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(lowerFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default:
			return v, nil
		}
	})
}

// Open opens (creating if needed) the state store at path, a file name, and
// brings its schema up to date. A database written by a newer scimbridge, with
// more migrations than this build knows, is refused.
func Open(ctx context.Context, path string) (*DB, error) {
	return open(ctx, path, migrations)
}

// open opens the store at path with the schema migs brings it to (the tests
// write stores of an older schema with a prefix of migrations).
func open(ctx context.Context, path string, migs []string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open state store: empty path")
	}
	if strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || path == ":memory:" {
		// The driver reads everything after '?' as DSN parameters; and an
		// in-memory database cannot be shared by the writer and reader pools.
		return nil, fmt.Errorf("open state store %q: the path must be a plain file name without '?'", path)
	}
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("open state store %q: %w", path, err)
	}
	page, err := setUp(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open state store %q: %w", path, err)
	}
	common := fmt.Sprintf("_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"+
		"&_pragma=cache_size(-%d)", cacheKiB(page))
	// The writer sorts in temporary files (writerTemp); the readers'
	// sorts are a page of a list, kept in memory.
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=temp_store("+writerTemp+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open state store %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w, migs); err != nil {
		w.Close()
		return nil, fmt.Errorf("open state store %q: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=temp_store(MEMORY)&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open state store %q for reading: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open state store %q for reading: %w", path, err)
	}
	return &DB{w: w, r: r, path: path}, nil
}

// pageSize is the page size of a new store. With SQLite's default of 4 KiB,
// a first sync of a million users wrote and read back four times as many
// pages, one system call each, into and out of the WAL; 16 KiB pages took
// that sync 15% less CPU (41.8–52.2 s against 49.4–61.6 s), and 100,000
// users 17% (cmd/scimbridge-bench, alternated runs). A store keeps the page
// size it was created with.
const pageSize = 16384

// writerTemp is where the writer's temporary data goes: FILE, SQLite's
// temporary directory ($SQLITE_TMPDIR, else $TMPDIR, else /var/tmp,
// /usr/tmp, /tmp). A first sync's index rebuilds sort millions of keys;
// in memory, SQLite sorts them all at once and modernc's allocator frees
// them a chunk at a time, and the peak came on top of the run's heap. In
// files the sort is merged from runs of the page cache's size. A first sync
// of 1M users, A/B alternated on one directory: 464–486 MB peak RSS against
// 542–594 MB, 34.3–37.8 s CPU against 39.7–42.6 s; its temporary files peak
// at about 50 MB (unlinked at once, so df shows them, ls does not).
const writerTemp = "FILE"

// cacheKiB is each connection's page cache for a store of page size page.
// modernc.org/memory gives a 4 KiB page (and its header) an 8 KiB slot but
// a 16 KiB page a 64 KiB mapping of its own: 2 MiB of 16 KiB pages take
// 8 MiB, half of what 8 MiB of 4 KiB pages take. (8 MiB of 16 KiB pages
// made a sync of 100,000 users peak 50 MB higher.)
func cacheKiB(page int) int {
	if page > 8192 {
		return 2048
	}
	return 8192
}

// setUp gives a new, empty database file its page size, which the first
// write fixes, and puts the database in WAL mode, which the file keeps; it
// returns the page size the store has. The driver applies a DSN's pragmas
// sorted by name, so journal_mode would come before page_size: hence a
// connection of its own.
func setUp(ctx context.Context, path string) (int, error) {
	c, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return 0, fmt.Errorf("set the page size: %w", err)
	}
	var mode string
	if err := c.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return 0, fmt.Errorf("set the journal mode: %w", err)
	}
	if mode != "wal" {
		return 0, fmt.Errorf("set the journal mode: the database stays in %q mode, not WAL", mode)
	}
	var page int
	if err := c.QueryRowContext(ctx, "PRAGMA page_size").Scan(&page); err != nil {
		return 0, fmt.Errorf("read the page size: %w", err)
	}
	return page, nil
}

// migrate applies the migrations the database lacks, each in its own
// IMMEDIATE transaction that re-reads user_version, so two processes opening
// the same new file do not both apply a migration.
func migrate(ctx context.Context, w *sql.DB, migs []string) error {
	for {
		done, err := migrateOne(ctx, w, migs)
		if err != nil || done {
			return err
		}
	}
}

func migrateOne(ctx context.Context, w *sql.DB, migs []string) (done bool, err error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v > len(migs):
		return false, fmt.Errorf("the database has schema version %d, newer than this scimbridge knows (%d): it was written by a newer version", v, len(migs))
	case v == len(migs):
		return true, nil
	}
	before, err := schemaObjects(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("apply migration %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, migs[v]); err != nil {
		return false, fmt.Errorf("apply migration %d: %w", v+1, err)
	}
	if err := keepIndexes(ctx, tx, before); err != nil {
		return false, fmt.Errorf("apply migration %d: %w", v+1, err)
	}
	// PRAGMA takes no parameters; v is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("record schema version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %d: %w", v+1, err)
	}
	return false, nil
}

// schemaObject is a row of sqlite_schema.
type schemaObject struct {
	typ, table, sql string
	rootpage        int64
}

func schemaObjects(ctx context.Context, tx *sql.Tx) (map[string]schemaObject, error) {
	rows, err := tx.QueryContext(ctx, "SELECT type, name, tbl_name, coalesce(sql, ''), rootpage FROM sqlite_schema")
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	defer rows.Close()
	objs := map[string]schemaObject{}
	for rows.Next() {
		var o schemaObject
		var name string
		if err := rows.Scan(&o.typ, &name, &o.table, &o.sql, &o.rootpage); err != nil {
			return nil, fmt.Errorf("read the schema: %w", err)
		}
		objs[name] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	return objs, nil
}

// keepIndexes recreates the indexes a migration lost by rebuilding their
// table (a new table renamed over the old one), so that a migration that
// rebuilds a table keeps the indexes other migrations added to it, whatever
// their order. An index dropped from a table that was not rebuilt stays dropped.
func keepIndexes(ctx context.Context, tx *sql.Tx, before map[string]schemaObject) error {
	after, err := schemaObjects(ctx, tx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(before))
	for name := range before {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ix := before[name]
		if ix.typ != "index" || ix.sql == "" {
			continue
		}
		if _, ok := after[name]; ok {
			continue
		}
		oldT, newT := before[ix.table], after[ix.table]
		if newT.typ != "table" || newT.rootpage == oldT.rootpage {
			continue
		}
		if _, err := tx.ExecContext(ctx, ix.sql); err != nil {
			return fmt.Errorf("recreate index %s of the rebuilt table %s: %w", name, ix.table, err)
		}
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// SQL returns the writer pool (one connection; transactions begin IMMEDIATE)
// for sibling files of this package.
func (db *DB) SQL() *sql.DB { return db.w }

// ReadSQL returns the read-only pool for sibling files of this package.
func (db *DB) ReadSQL() *sql.DB { return db.r }

// tsLayout is how every timestamp is stored: UTC, fixed milliseconds, so that
// text order is time order.
const tsLayout = "2006-01-02T15:04:05.000Z"

// formatTS formats t as stored; the zero time is stored as "".
func formatTS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsLayout)
}

// parseTS parses a stored timestamp; "" is the zero time. The fixed layout is
// decoded by hand: Snapshot parses one per row.
func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) == len(tsLayout) && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
		s[16] == ':' && s[19] == '.' && s[23] == 'Z' {
		n := func(i, j int) (int, bool) {
			v := 0
			for k := i; k < j; k++ {
				c := s[k]
				if c < '0' || c > '9' {
					return 0, false
				}
				v = v*10 + int(c-'0')
			}
			return v, true
		}
		y, ok1 := n(0, 4)
		mo, ok2 := n(5, 7)
		d, ok3 := n(8, 10)
		h, ok4 := n(11, 13)
		mi, ok5 := n(14, 16)
		sec, ok6 := n(17, 19)
		ms, ok7 := n(20, 23)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
			h < 24 && mi < 60 && sec < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), time.UTC)
			if t.Day() == d {
				return t, nil
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored timestamp %q: %w", s, err)
	}
	return t.UTC(), nil
}

// now is the current time truncated to what is stored.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
