package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBackupRefusesWhatItCannotCopySafely(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "state.db")
	st, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	exists := filepath.Join(dir, "exists.db")
	if err := os.WriteFile(exists, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	notStore := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(notStore, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src, out, want string
	}{
		{db, exists, "the file exists"},
		{filepath.Join(dir, "missing.db"), filepath.Join(dir, "b1.db"), "no such file"},
		{notStore, filepath.Join(dir, "b2.db"), "not a scimbridge state store"},
	}
	for _, tt := range tests {
		err := Backup(ctx, tt.src, tt.out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Backup(%s, %s) = %v, want %q", filepath.Base(tt.src), filepath.Base(tt.out), err, tt.want)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Error("an existing file was overwritten")
	}
	out := filepath.Join(dir, "ok.db")
	if err := Backup(ctx, db, out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "partial") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
