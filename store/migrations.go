package store

// migrations are applied in order, each once, in its own transaction; the
// number applied is kept in PRAGMA user_version. Append only: never edit a
// migration that has shipped.
var migrations = []string{
	// 1: the synced directory, runs, settings and the change log.
	`
CREATE TABLE users (
	id              TEXT PRIMARY KEY,
	external_id     TEXT NOT NULL DEFAULT '',
	dn              TEXT NOT NULL,
	dn_norm         TEXT NOT NULL,
	user_name       TEXT NOT NULL,
	user_name_norm  TEXT NOT NULL,
	given_name      TEXT NOT NULL DEFAULT '',
	family_name     TEXT NOT NULL DEFAULT '',
	display_name    TEXT NOT NULL DEFAULT '',
	email           TEXT NOT NULL DEFAULT '',
	active          INTEGER NOT NULL DEFAULT 1,
	employee_number TEXT NOT NULL DEFAULT '',
	department      TEXT NOT NULL DEFAULT '',
	member_key      TEXT NOT NULL DEFAULT '',
	hash            TEXT NOT NULL,
	groups_hash     TEXT NOT NULL,
	version         TEXT NOT NULL,
	created         TEXT NOT NULL, -- RFC 3339 UTC with milliseconds, sortable as text
	last_modified   TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX users_user_name_norm ON users(user_name_norm);
CREATE INDEX users_external_id ON users(external_id);
CREATE INDEX users_last_modified ON users(last_modified);

CREATE TABLE groups (
	id              TEXT PRIMARY KEY,
	external_id     TEXT NOT NULL DEFAULT '',
	dn              TEXT NOT NULL,
	dn_norm         TEXT NOT NULL,
	name            TEXT NOT NULL,
	name_norm       TEXT NOT NULL,
	hash            TEXT NOT NULL,
	members_hash    TEXT NOT NULL,
	version         TEXT NOT NULL,
	created         TEXT NOT NULL,
	last_modified   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX groups_name_norm ON groups(name_norm);
CREATE INDEX groups_external_id ON groups(external_id);
CREATE INDEX groups_last_modified ON groups(last_modified);

-- Direct members of each group: users and nested groups. The member index
-- gives a user's direct groups without reading the table.
CREATE TABLE group_members (
	group_id    TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	member_id   TEXT NOT NULL,
	member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
	PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members(member_id, member_type);

-- The nesting closure (computed by the bridge): every group each nested group
-- is in through nesting, never itself. A user's groups are the groups listing
-- it in group_members (direct) and their ancestors here (indirect).
CREATE TABLE group_closure (
	group_id    TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	ancestor_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, ancestor_id)
) WITHOUT ROWID;
CREATE INDEX group_closure_ancestor ON group_closure(ancestor_id);

-- The settings document, one row; secrets inside it are encrypted by the caller.
CREATE TABLE settings (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	document TEXT NOT NULL,
	updated  TEXT NOT NULL
);

CREATE TABLE sync_runs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	trigger     TEXT NOT NULL,
	dry_run     INTEGER NOT NULL,
	status      TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL DEFAULT '',
	report      TEXT NOT NULL -- the bridge.Report as JSON
);

-- The durable change log (outbox): what each run changed, for the push client.
CREATE TABLE changes (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id        INTEGER NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	op            TEXT NOT NULL,
	name          TEXT NOT NULL DEFAULT '',
	created       TEXT NOT NULL
);
`,
	// 2: the push client's bookkeeping per target resource.
	`
-- What was last delivered to the push target for each resource.
CREATE TABLE push_state (
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	remote_id     TEXT NOT NULL DEFAULT '', -- the target's id, once known
	pushed_hash   TEXT NOT NULL DEFAULT '', -- hash of the representation last delivered
	status        TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed
	attempts      INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT NOT NULL DEFAULT '',
	updated       TEXT NOT NULL,
	PRIMARY KEY (resource_type, resource_id)
) WITHOUT ROWID;

-- The members last delivered for each group (remote member ids).
CREATE TABLE push_members (
	group_id  TEXT NOT NULL,
	member_id TEXT NOT NULL,
	PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;

-- How far the change log has been drained.
CREATE TABLE push_cursor (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
);
`,
	// 3: the audit trail of settings changes.
	`
-- One row per saved settings document: when, and which field paths changed.
CREATE TABLE settings_history (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	at     TEXT NOT NULL,
	fields TEXT NOT NULL -- JSON array of changed field paths ("connection.url")
);
`,
	// 4: the push client's name and body of what it delivered, a reverse
	// member index, and the target the bookkeeping belongs to.
	`
ALTER TABLE push_state ADD COLUMN name TEXT NOT NULL DEFAULT ''; -- userName/displayName at the target
ALTER TABLE push_state ADD COLUMN pushed_body TEXT NOT NULL DEFAULT ''; -- JSON last delivered
CREATE INDEX push_state_status ON push_state(status);
CREATE INDEX push_members_member ON push_members(member_id);
CREATE TABLE push_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
`,
	// 5: find the push state holding a remote id (adoption by name and
	// deprovisioning must agree on one holder).
	`
CREATE INDEX push_state_remote ON push_state(resource_type, remote_id);
`,
	// 6: changed-entries and live sync (issue 15): the position the changes
	// applied so far reach, the duplicates skipped and the member values that
	// named nobody (which a later pass needs to decide as a full sync would),
	// and look-ups by folded DN.
	`
CREATE INDEX users_dn_norm ON users(dn_norm);
CREATE INDEX groups_dn_norm ON groups(dn_norm);
CREATE TABLE change_position (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	mechanism TEXT NOT NULL, -- syncrepl, dirsync or timestamps
	position  BLOB NOT NULL, -- opaque to the store and the bridge
	updated   TEXT NOT NULL
);
-- Entries the runs skipped as duplicates (they are not in users or groups).
CREATE TABLE skipped_entries (
	kind        TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
	dn_norm     TEXT NOT NULL,
	external_id TEXT NOT NULL DEFAULT '',
	name_norm   TEXT NOT NULL DEFAULT '',
	member_key  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (kind, dn_norm)
) WITHOUT ROWID;
-- Member values of groups that name no synced user or group (folded DN or member key).
CREATE TABLE dangling_members (
	group_id TEXT NOT NULL,
	ref      TEXT NOT NULL,
	PRIMARY KEY (group_id, ref)
) WITHOUT ROWID;
CREATE INDEX dangling_members_ref ON dangling_members(ref);
-- Directory UUIDs of entries whose externalId is something else, as passes saw them.
CREATE TABLE directory_uuids (
	resource_type TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
	uuid          TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	PRIMARY KEY (resource_type, uuid)
) WITHOUT ROWID;
`,
	// 7: users become a rowid table, the id a unique column. A first sync
	// inserts users in the order they are read, and their ids (name-based
	// UUIDs) are random: keyed by id, every insert landed at a random page of
	// a table far larger than the cache. Appended by rowid, the id index is
	// sorted once (the bulk load rebuilds it) or stays small enough to cache.
	`
CREATE TABLE users_by_rowid (
	rid             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL,
	external_id     TEXT NOT NULL DEFAULT '',
	dn              TEXT NOT NULL,
	dn_norm         TEXT NOT NULL,
	user_name       TEXT NOT NULL,
	user_name_norm  TEXT NOT NULL,
	given_name      TEXT NOT NULL DEFAULT '',
	family_name     TEXT NOT NULL DEFAULT '',
	display_name    TEXT NOT NULL DEFAULT '',
	email           TEXT NOT NULL DEFAULT '',
	active          INTEGER NOT NULL DEFAULT 1,
	employee_number TEXT NOT NULL DEFAULT '',
	department      TEXT NOT NULL DEFAULT '',
	member_key      TEXT NOT NULL DEFAULT '',
	hash            TEXT NOT NULL,
	groups_hash     TEXT NOT NULL,
	version         TEXT NOT NULL,
	created         TEXT NOT NULL,
	last_modified   TEXT NOT NULL
);
INSERT INTO users_by_rowid (id, external_id, dn, dn_norm, user_name, user_name_norm, given_name, family_name,
	display_name, email, active, employee_number, department, member_key, hash, groups_hash, version, created,
	last_modified)
SELECT id, external_id, dn, dn_norm, user_name, user_name_norm, given_name, family_name,
	display_name, email, active, employee_number, department, member_key, hash, groups_hash, version, created,
	last_modified FROM users ORDER BY id;
DROP TABLE users;
ALTER TABLE users_by_rowid RENAME TO users;
CREATE UNIQUE INDEX users_id ON users(id);
CREATE UNIQUE INDEX users_user_name_norm ON users(user_name_norm);
CREATE INDEX users_external_id ON users(external_id);
CREATE INDEX users_last_modified ON users(last_modified);
`,
	// 8: memberships by integer keys. groups become a rowid table like
	// users (7), and the direct memberships and the nesting closure hold
	// rowids: a first sync writes a few hundred thousand memberships, which
	// as pairs of 36-character ids and a type cost 7 times the bytes and
	// 3 times the CPU of integer pairs, all of it serial work after the
	// read. Users and groups in groups are two tables, each a pair of
	// rowids. No foreign keys: the store deletes memberships with their
	// user or group itself (deleteIDs), and maps ids to rowids at write
	// time, refusing a member it does not hold.
	`
CREATE TABLE groups_by_rowid (
	rid             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL,
	external_id     TEXT NOT NULL DEFAULT '',
	dn              TEXT NOT NULL,
	dn_norm         TEXT NOT NULL,
	name            TEXT NOT NULL,
	name_norm       TEXT NOT NULL,
	hash            TEXT NOT NULL,
	members_hash    TEXT NOT NULL,
	version         TEXT NOT NULL,
	created         TEXT NOT NULL,
	last_modified   TEXT NOT NULL
);
INSERT INTO groups_by_rowid (id, external_id, dn, dn_norm, name, name_norm, hash, members_hash, version, created,
	last_modified)
SELECT id, external_id, dn, dn_norm, name, name_norm, hash, members_hash, version, created, last_modified
	FROM groups ORDER BY id;

-- The users directly in each group; the user index gives a user's direct
-- groups without reading the table.
CREATE TABLE group_users (
	group_rid INTEGER NOT NULL, -- groups.rid
	user_rid  INTEGER NOT NULL, -- users.rid
	PRIMARY KEY (group_rid, user_rid)
) WITHOUT ROWID;
INSERT INTO group_users (group_rid, user_rid)
SELECT g.rid, u.rid FROM group_members gm JOIN groups_by_rowid g ON g.id = gm.group_id
	JOIN users u ON u.id = gm.member_id WHERE gm.member_type = 'User' ORDER BY 1, 2;
CREATE INDEX group_users_user ON group_users(user_rid);

-- The groups directly in each group.
CREATE TABLE group_subgroups (
	group_rid  INTEGER NOT NULL, -- groups.rid
	member_rid INTEGER NOT NULL, -- groups.rid of the group in it
	PRIMARY KEY (group_rid, member_rid)
) WITHOUT ROWID;
INSERT INTO group_subgroups (group_rid, member_rid)
SELECT g.rid, m.rid FROM group_members gm JOIN groups_by_rowid g ON g.id = gm.group_id
	JOIN groups_by_rowid m ON m.id = gm.member_id WHERE gm.member_type = 'Group' ORDER BY 1, 2;
CREATE INDEX group_subgroups_member ON group_subgroups(member_rid);

-- The nesting closure (computed by the bridge): every group each nested
-- group is in through nesting, never itself.
CREATE TABLE group_closure_by_rid (
	group_rid    INTEGER NOT NULL, -- groups.rid
	ancestor_rid INTEGER NOT NULL, -- groups.rid
	PRIMARY KEY (group_rid, ancestor_rid)
) WITHOUT ROWID;
INSERT INTO group_closure_by_rid (group_rid, ancestor_rid)
SELECT g.rid, a.rid FROM group_closure c JOIN groups_by_rowid g ON g.id = c.group_id
	JOIN groups_by_rowid a ON a.id = c.ancestor_id ORDER BY 1, 2;

DROP TABLE group_closure;
DROP TABLE group_members;
DROP TABLE groups;
ALTER TABLE groups_by_rowid RENAME TO groups;
ALTER TABLE group_closure_by_rid RENAME TO group_closure;
CREATE INDEX group_closure_ancestor ON group_closure(ancestor_rid);
CREATE UNIQUE INDEX groups_id ON groups(id);
-- The other indexes of groups come back as they were (keepIndexes).
`,
}
