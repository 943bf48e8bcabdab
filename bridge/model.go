// Package bridge is scimbridge's domain: one full sync reads every user and
// group from a Directory, maps them (package schema), decides duplicates,
// resolves nested groups, diffs the result against what a Store holds and
// applies the difference in one transaction, with a report of the run.
// Package scheduler runs it on a schedule.
//
// Data flows one way: ldapsource → bridge → store. The bridge declares the
// interfaces it needs (Directory, Store); adapters implement them.
//
// A run, file by file:
//
//   - run.go: the Syncer, the run lock and a run's lifecycle (Begin, Complete, push).
//   - plan.go: one run's steps in order, deletion safety, membership changes, the skipped list.
//   - groups.go: the groups are read first and decided at once (there are few).
//   - groupindex.go: the kept groups linked: nesting, and which groups list each DN or member key.
//   - read.go: the users stream in; each is mapped, matched and diffed as it arrives
//     (an unchanged one leaves 16 bytes), and new ones go into the open transaction.
//   - decide.go: the duplicate rule, one pure function for users and groups.
//   - users.go: after the read: losers' rows go, kept users join their groups, the users' plan.
//   - nesting.go, hash.go, ids.go, writer.go, dn.go: closure and memberships, content
//     hashes, SCIM ids, the writer goroutine, DN normalization.
//   - progress.go: how far the run in progress has come (phase, entries read), for logs
//     and the admin console.
//
// Changed-entries passes and live changes (issue 15) apply a batch of changes by
// the same rules over a bounded world:
//
//   - changes.go: what they need from a store (ChangeStore) and keep with each batch (ChangeState).
//   - changed.go: a pass (RunChanged), one batch in one transaction with its position, a full sync instead.
//   - delta.go: the users of a batch: the changed entries and the stored users sharing a key, decided.
//   - deltagroups.go, deltamembers.go: the groups, their members resolved again, the closure, users' groups.
//   - livesync.go: the live stream (Live): reconnection, backoff, its status.
package bridge

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/scimbridge/scimbridge/schema"
)

// Directory is a connected, bound directory that streams entries. Each
// callback gets entries one at a time; returning an error from fn stops the
// read. An entry, its map and its values are valid only until fn returns
// (a reader may reuse them): the bridge copies what it keeps.
// A read that fails or is incomplete for any reason returns an error. The
// bridge calls one after the other, never both at once: OpenLDAP invalidates a
// connection's paging cookie when a second paged search starts on it.
// The bridge reads the groups first, so that each user's groups are known
// as the user arrives.
type Directory interface {
	Users(ctx context.Context, fn func(*schema.Entry) error) error
	Groups(ctx context.Context, fn func(*schema.Entry) error) error
	Close() error
}

// ChangeSource is a directory that can say what changed since a position.
// Positions are opaque bytes owned by the source.
type ChangeSource interface {
	// Mechanism names how changes are found: "syncrepl", "dirsync" or
	// "timestamps".
	Mechanism() string
	// Start returns the position of now. It is taken before a full sync
	// reads, so changes made during that read are delivered again later
	// (applying a change twice gives the same result).
	Start(ctx context.Context) ([]byte, error)
	// Changes delivers the changes after pos in batches, each with the
	// position that covers it. With live false it returns once caught up;
	// with live true it keeps delivering (a persistent stream, or polls)
	// until ctx ends or the connection fails. A batch is valid only during
	// fn; an error from fn stops the stream and is returned. A position the
	// directory no longer accepts gives an error wrapping
	// schema.ErrPositionExpired.
	Changes(ctx context.Context, pos []byte, live bool, fn func(schema.ChangeBatch) error) error
	Close() error
}

// ChangeMemo is implemented by a change source that remembers more between
// passes than a position holds (the timestamps source: which entries it
// delivered within its overlap window, not to deliver them at every pass).
// A syncer keeps the memo of its last pass and recalls it into the source
// of its next pass, which uses it only if it was taken at the position that
// pass starts from.
type ChangeMemo interface {
	Memo() any
	Recall(memo any)
}

// Dialer connects and binds to the directory the settings describe.
type Dialer func(ctx context.Context, s *schema.Settings) (Directory, error)

// ChangeDialer connects a change source for the settings' directory. With
// live true it picks a persistent stream where the directory has one
// (syncrepl on OpenLDAP with syncprov, DirSync polled on Active Directory);
// with live false the changed-entries pass (DirSync on Active Directory,
// modifyTimestamp elsewhere).
type ChangeDialer func(ctx context.Context, s *schema.Settings, live bool) (ChangeSource, error)

// Member types of a group's direct members.
const (
	MemberUser  = "User"
	MemberGroup = "Group"
)

// StoredUser is what the bridge needs to know of a stored user to match and
// diff it. A run holds one for every stored user, so it is kept small.
type StoredUser struct {
	ID           string
	ExternalID   string
	DNNorm       string
	UserNameNorm string
	MemberKey    string // the value memberUid-style groups refer to, as stored
	Hash         Digest // content hash of the mapped attributes
	GroupsHash   Digest // hash of the transitive group set with direct flags
}

// Digest is a content hash. Rows carry it as 32 hex digits (UserRow.Hash).
type Digest [16]byte

// String returns d as the 32 hex digits rows carry.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest reads the 32 hex digits of a row's hash.
func ParseDigest(s []byte) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(d))
	}
	if _, err := hex.Decode(d[:], s); err != nil {
		return d, fmt.Errorf("hash %q: %w", s, err)
	}
	return d, nil
}

// StoredGroup is what the bridge needs to know of a stored group to match and diff it.
type StoredGroup struct {
	ID          string
	ExternalID  string
	DNNorm      string
	NameNorm    string
	Hash        string // content hash of the mapped attributes (name, externalId, DN)
	MembersHash string // hash of the direct member set
	Created     time.Time
}

// Snapshot is the store's current state, as far as matching and diffing need it.
type Snapshot struct {
	Users  []StoredUser
	Groups []StoredGroup
}

// UserRow is a user as the store keeps it.
type UserRow struct {
	ID string
	schema.User
	DNNorm       string
	UserNameNorm string
	Hash         string
	GroupsHash   string
	// Version changes exactly when the SCIM representation changes (attributes or groups).
	Version string
	// Created is written when the user is created; an update leaves it.
	Created      time.Time
	LastModified time.Time
}

// GroupRow is a group as the store keeps it (members are kept apart).
type GroupRow struct {
	ID           string
	ExternalID   string
	DN           string
	DNNorm       string
	Name         string
	NameNorm     string
	Hash         string
	MembersHash  string
	Version      string
	Created      time.Time
	LastModified time.Time
}

// Member is one direct member of a group.
type Member struct {
	ID   string
	Type string // MemberUser or MemberGroup
}

// Membership is one group a user is in, directly or through nesting.
type Membership struct {
	GroupID string
	Direct  bool
}

// Change is one entry of the durable change log (outbox) that the push client drains.
type Change struct {
	ResourceType string // MemberUser ("User") or MemberGroup ("Group")
	ResourceID   string
	Op           string // OpCreate, OpUpdate, OpDelete, OpMembers
	// Name is the userName or displayName at the time of the change, so a
	// deletion can still be addressed at a target that names resources.
	Name string
}

// Change operations.
const (
	OpCreate  = "create"
	OpUpdate  = "update"
	OpDelete  = "delete"
	OpMembers = "members" // the group's direct members or transitive users changed
)

// Plan is everything one sync changes. The store applies it in one transaction.
type Plan struct {
	CreateUsers  []UserRow
	UpdateUsers  []UserRow // attributes or groups changed; the whole row is rewritten
	DeleteUsers  []string  // ids
	CreateGroups []GroupRow
	UpdateGroups []GroupRow // attributes or members changed
	DeleteGroups []string   // ids
	// GroupMembers replaces the direct members of these groups. A user's
	// direct groups are the groups that list it here; its indirect groups
	// follow from Ancestors.
	GroupMembers map[string][]Member
	// Ancestors, when not nil, replaces the whole nesting closure: for each
	// nested group id, every group it is in through nesting (never itself).
	Ancestors map[string][]string
	Changes   []Change

	// state is stored with the plan when change tracking is on.
	state *ChangeState
}

// Empty reports whether the plan writes nothing.
func (p *Plan) Empty() bool {
	return len(p.CreateUsers) == 0 && len(p.UpdateUsers) == 0 && len(p.DeleteUsers) == 0 &&
		len(p.CreateGroups) == 0 && len(p.UpdateGroups) == 0 && len(p.DeleteGroups) == 0 &&
		len(p.GroupMembers) == 0 && p.Ancestors == nil && len(p.Changes) == 0
}

// Tx is one run's open write transaction. One goroutine uses it at a time.
type Tx interface {
	// CreateUsers inserts new users, in the order given (ascending ids),
	// and appends a create change for each to the change log (if kept)
	// under run runID. No stored user may hold their usernames.
	CreateUsers(runID int64, rows []UserRow) error
	// DeleteCreated removes users CreateUsers inserted in this transaction;
	// their changes go at Commit.
	DeleteCreated(ids []string) error
	// UsersDone says the read is over: no more CreateUsers or
	// DeleteCreated. The store may finish the users' table work now (a
	// bulk load's indexes) while the caller computes the rest of the plan.
	UsersDone() error
	// Commit writes p, records r as finished (unless nil) and commits.
	// r's FinishedAt and DurationMs are set to the end of the writing; the
	// syncer stamps them again after the commit and records r once more.
	Commit(p *Plan, r *Report) error
	// Rollback discards everything written; after Commit it does nothing.
	Rollback() error
}

// Store is what the bridge needs from the state store.
type Store interface {
	// Snapshot loads the matching keys and hashes of every stored user and group.
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Memberships returns the stored memberships (direct and through
	// nesting) of the given users.
	Memberships(ctx context.Context, userIDs []string) (map[string][]Membership, error)
	// Begin opens the write transaction of one run. New users can be
	// written into it while the directory is still being read; Commit then
	// writes the plan and the finished run report: ONE transaction. With
	// changeLog false (no push is configured) no change log entries are
	// written and the push client's record of what it delivered is
	// cleared instead, so that a push enabled later reconciles everything.
	Begin(ctx context.Context, changeLog bool) (Tx, error)
	// StartRun records a run as running and assigns r.ID.
	StartRun(ctx context.Context, r *Report) error
	// FinishRun records the final state of a run that applied nothing
	// (failed, held, dry run, or no change).
	FinishRun(ctx context.Context, r *Report) error
	// LockSync takes the store's cross-process sync lock without waiting;
	// while another process holds it, it returns an error wrapping ErrBusy.
	LockSync() (unlock func(), err error)
	// MarkInterruptedRuns records runs that a stopped process left running
	// as failed. It is called with the sync lock held.
	MarkInterruptedRuns(ctx context.Context) (int, error)
}
