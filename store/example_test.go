package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
	"github.com/scimbridge/scimbridge/store"
)

// Example applies a plan from a sync run, then serves a SCIM-style query.
func Example() {
	dir, err := os.MkdirTemp("", "scimbridge-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	run := &bridge.Report{Trigger: bridge.TriggerManual}
	if err := db.StartRun(ctx, run); err != nil {
		log.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	plan := &bridge.Plan{
		CreateUsers: []bridge.UserRow{{
			ID:     "u1",
			User:   schema.User{DN: "uid=jdoe,ou=people,dc=example,dc=com", UserName: "JDoe", DisplayName: "Jane Doe", Active: true},
			DNNorm: "uid=jdoe,ou=people,dc=example,dc=com", UserNameNorm: "jdoe",
			Hash: "5d41402abc4b2a76b9719d911017c592", GroupsHash: "7d793037a0760186574b0282f2f435e7", Version: "v1", Created: at, LastModified: at,
		}},
		CreateGroups: []bridge.GroupRow{{
			ID: "g1", DN: "cn=staff,ou=groups,dc=example,dc=com", DNNorm: "cn=staff,ou=groups,dc=example,dc=com",
			Name: "Staff", NameNorm: "staff", Hash: "h", MembersHash: "m", Version: "v1", Created: at, LastModified: at,
		}},
		GroupMembers: map[string][]bridge.Member{"g1": {{ID: "u1", Type: bridge.MemberUser}}},
	}
	run.Status, run.UsersCreated, run.GroupsCreated = bridge.StatusSucceeded, 1, 1
	if err := db.Apply(ctx, plan, run); err != nil {
		log.Fatal(err)
	}

	// userName eq "jdoe" (userName is case-insensitive in SCIM).
	total, users, err := db.ListUsers(ctx, store.Query{
		Filter:     &store.Expr{Op: "eq", Attr: "userName", Value: "jdoe"},
		Count:      10,
		WithGroups: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(total, users[0].UserName, users[0].Groups)
	// Output: 1 JDoe [{g1 Staff true}]
}
