package schema

import "errors"

// ChangeKind says what a change stream reports of one entry.
type ChangeKind uint8

const (
	// ChangePresent: the entry was added, modified or renamed and is in the
	// search's scope; Change.Entry holds its current DN and every mapped
	// attribute, as Users or Groups would give them.
	ChangePresent ChangeKind = iota + 1
	// ChangeGone: the entry was deleted or left the search's scope (filter,
	// base, object class). Change.UUID names it; Change.Entry.DN is the DN
	// the directory gave with it, if any (a moved entry's new DN, or
	// empty), so match by UUID first. A directory may report an entry gone
	// from a search it never was in (syncprov does, for a modified user, on
	// the groups' search): a gone change removes only a resource of its own
	// kind (Change.Group) that the engine holds, and one it does not hold is
	// ignored.
	ChangeGone
)

// Change is one entry a changed-entries pass or a live stream reports.
type Change struct {
	Kind  ChangeKind
	Group bool // from the groups' search; else from the users' search
	// UUID is the directory's own immutable id of the entry, in the form the
	// mapping gives it as an externalId: OpenLDAP's entryUUID as lower-case
	// text, AD's objectGUID as FormatGUID formats it. "" if unknown. A
	// ChangeGone always has it or a DN, and has a UUID whenever the directory
	// gives one.
	UUID  string
	Entry *Entry // never nil; for ChangeGone it may hold only a DN
}

// ChangeBatch is a set of changes and the position that covers them.
type ChangeBatch struct {
	Changes []Change
	// Position covers every change up to and including this batch (a
	// syncrepl cookie, a DirSync cookie, a timestamp high-water mark). It is
	// opaque to the engine, which stores it in the same transaction as the
	// batch's changes and gives it back to resume.
	Position []byte
}

// ErrPositionExpired is returned (wrapped) by a change source when the
// directory no longer accepts a stored position (syncrepl's
// e-syncRefreshRequired, an expired DirSync cookie, a changed server): the
// engine then runs a full sync and starts again from a new position.
var ErrPositionExpired = errors.New("the directory no longer accepts the saved change position")
