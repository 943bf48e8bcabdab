package bridge

import "context"

// What a changed-entries pass or a live stream needs beside Store: bounded
// look-ups by the store's indexes, so that a pass costs what its changes
// cost, not what the directory holds (delta.go).

// Run triggers of passes that apply changes.
const (
	TriggerChanged = "changed"
	TriggerLive    = "live"
)

// ChangeState is what a run stores beside its changes, in the same
// transaction: the position that covers them, and what later passes need
// to decide as a full sync would (the duplicates skipped, the member values
// that named nobody).
type ChangeState struct {
	// Position and Mechanism (ChangeSource.Mechanism) of the changes applied.
	Position  []byte
	Mechanism string
	// Full replaces the skipped entries and dangling member values with the
	// ones below (a full sync); else the lists are updates.
	Full bool
	// Skipped are entries skipped as duplicates (not for bad values): their
	// keys, so that a pass can tell when their winner changes.
	Skipped []SkippedKeys
	// Unskipped are the folded DNs of entries no longer skipped (user
	// entries unless in UnskippedGroups).
	Unskipped       []string
	UnskippedGroups []string
	// Dangling replaces the member values naming nobody of the groups in
	// DanglingGroups (all groups when Full).
	Dangling       []DanglingRef
	DanglingGroups []string
	// UUIDs are the directory UUIDs of changed entries whose externalId is
	// not that UUID, so that a deletion named by UUID alone finds them.
	UUIDs []UUIDRef
}

// UUIDRef says the entry with directory UUID UUID is resource ID of Type
// (MemberUser or MemberGroup).
type UUIDRef struct {
	Type, UUID, ID string
}

// SkippedKeys are the keys of an entry a run skipped as a duplicate.
type SkippedKeys struct {
	Group      bool
	DNNorm     string
	ExternalID string
	NameNorm   string
	MemberKey  string // folded; memberUid mode only
}

// DanglingRef is a member value of a group that names no synced user or
// group: a folded DN, or a folded member key in memberUid mode.
type DanglingRef struct {
	GroupID string
	Ref     string
}

// ChangeTx is a run's transaction that can store a ChangeState with the
// plan. The store's Tx implements it.
type ChangeTx interface {
	SaveChangeState(st *ChangeState) error
}

// MemberRef is one stored member of a group, or (ID "") a member value of
// the group that names nobody, in DNNorm: a folded DN, or a folded member
// key in memberUid mode.
type MemberRef struct {
	Member
	DNNorm string
}

// GroupEdge says group Child is a direct member of group Parent.
type GroupEdge struct{ Parent, Child string }

// UserKeys are the values a pass looks stored users up by.
type UserKeys struct {
	IDs, ExternalIDs, DNs, Names, MemberKeys []string
}

// ChangeStore is what changed-entries passes need from the store.
type ChangeStore interface {
	// ChangePosition returns the stored position and its mechanism (nil when none).
	ChangePosition(ctx context.Context) (pos []byte, mechanism string, err error)
	// GroupGraph returns every stored group and every group-in-group edge.
	GroupGraph(ctx context.Context) ([]GroupRow, []GroupEdge, error)
	// UsersByKeys returns the stored users holding any of the values
	// (member keys compared folded).
	UsersByKeys(ctx context.Context, k UserKeys) ([]UserRow, error)
	// UsersByID returns the stored users with these ids.
	UsersByID(ctx context.Context, ids []string) ([]UserRow, error)
	// MembersOf returns the stored members of these groups and their
	// dangling member values.
	MembersOf(ctx context.Context, groupIDs []string) (map[string][]MemberRef, error)
	// GroupsWith returns the groups that have any of memberIDs as a direct
	// member or any of refs as a dangling member value.
	GroupsWith(ctx context.Context, memberIDs, refs []string) ([]string, error)
	// DirectGroups returns the groups each user is a direct member of.
	DirectGroups(ctx context.Context, userIDs []string) (map[string][]string, error)
	// SkippedEntries returns the duplicates the runs so far left out.
	SkippedEntries(ctx context.Context) ([]SkippedKeys, error)
	// IDsByUUID returns the resources of type typ (MemberUser, MemberGroup)
	// recorded for these directory UUIDs (ChangeState.UUIDs), by UUID.
	IDsByUUID(ctx context.Context, typ string, uuids []string) (map[string]string, error)
}
