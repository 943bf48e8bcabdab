package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/scimbridge/scimbridge/store"
)

// cmdBackup copies the state store while serve may be using it.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "state store path (default $SCIMBRIDGE_DB, else ./scimbridge.db)")
	out := fs.String("out", "", "the backup file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *out == "" {
		return &exitError{code: 2, msg: "backup needs --out FILE, the file to write"}
	}
	src := dbPath(*db)
	if err := store.Backup(ctx, src, *out); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", src, *out)
	return nil
}
