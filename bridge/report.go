package bridge

import (
	"encoding/json"
	"time"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusHeld      = "held"
	// StatusInterrupted is a run stopped before it finished (the process was
	// asked to stop): nothing it read was applied.
	StatusInterrupted = "interrupted"
)

// Run triggers.
const (
	TriggerManual    = "manual"
	TriggerScheduled = "scheduled"
	TriggerStartup   = "startup"
)

// SkippedEntry is a directory entry a run left out, and why.
type SkippedEntry struct {
	DN     string `json:"dn"`
	Reason string `json:"reason"`
}

// Report is the record of one sync run. Its JSON form is flat: the keys of
// `scimbridge sync`'s output line plus the run's identity and details.
type Report struct {
	ID         int64     `json:"id"`
	Trigger    string    `json:"trigger"`
	DryRun     bool      `json:"dryRun"`
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Error      string    `json:"error,omitempty"`

	Users              int `json:"users"`
	Groups             int `json:"groups"`
	UsersCreated       int `json:"usersCreated"`
	UsersUpdated       int `json:"usersUpdated"`
	UsersDeleted       int `json:"usersDeleted"`
	GroupsCreated      int `json:"groupsCreated"`
	GroupsUpdated      int `json:"groupsUpdated"`
	GroupsDeleted      int `json:"groupsDeleted"`
	MembershipsChanged int `json:"membershipsChanged"`
	// DanglingMembers counts member values that are neither a synced user nor
	// a synced group (or are not valid text), dropped from their groups.
	DanglingMembers int            `json:"danglingMembers"`
	Skipped         int            `json:"skipped"`
	SkippedEntries  []SkippedEntry `json:"skippedEntries"`
	// KeptUnchanged counts stored users and groups left as they were because
	// their entry was skipped this run: a bad value never deletes anyone.
	KeptUnchanged int `json:"keptUnchanged"`
	// Referrals counts search references (referrals) the read skipped.
	Referrals  int   `json:"referrals"`
	DurationMs int64 `json:"durationMs"`

	// Mechanism is how a changed-entries or live run found its changes
	// (syncrepl, dirsync, timestamps); Changes how many entries it received.
	Mechanism string `json:"mechanism,omitempty"`
	Changes   int    `json:"changes,omitempty"`
	// FullSyncReason says why a changed-entries or live pass ran a full sync
	// instead (no saved position, the directory no longer accepts it, …).
	FullSyncReason string `json:"fullSyncReason,omitempty"`

	// Push is the push client's report of this run, when push is enabled.
	Push json.RawMessage `json:"push,omitempty"`
}

// Summary is the one-line form `scimbridge sync` prints.
type Summary struct {
	Status             string          `json:"status"`
	Users              int             `json:"users"`
	Groups             int             `json:"groups"`
	UsersCreated       int             `json:"usersCreated"`
	UsersUpdated       int             `json:"usersUpdated"`
	UsersDeleted       int             `json:"usersDeleted"`
	GroupsCreated      int             `json:"groupsCreated"`
	GroupsUpdated      int             `json:"groupsUpdated"`
	GroupsDeleted      int             `json:"groupsDeleted"`
	MembershipsChanged int             `json:"membershipsChanged"`
	DanglingMembers    int             `json:"danglingMembers"`
	Skipped            int             `json:"skipped"`
	KeptUnchanged      int             `json:"keptUnchanged"`
	Referrals          int             `json:"referrals"`
	DurationMs         int64           `json:"durationMs"`
	DryRun             bool            `json:"dryRun,omitempty"`
	Error              string          `json:"error,omitempty"`
	Push               json.RawMessage `json:"push,omitempty"`
}

// Summary returns the report's one-line form.
func (r *Report) Summary() Summary {
	return Summary{
		Status: r.Status, Users: r.Users, Groups: r.Groups,
		UsersCreated: r.UsersCreated, UsersUpdated: r.UsersUpdated, UsersDeleted: r.UsersDeleted,
		GroupsCreated: r.GroupsCreated, GroupsUpdated: r.GroupsUpdated, GroupsDeleted: r.GroupsDeleted,
		MembershipsChanged: r.MembershipsChanged, DanglingMembers: r.DanglingMembers,
		Skipped: r.Skipped, KeptUnchanged: r.KeptUnchanged, Referrals: r.Referrals, DurationMs: r.DurationMs, DryRun: r.DryRun, Error: r.Error, Push: r.Push,
	}
}
