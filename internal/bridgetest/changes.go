package bridgetest

import (
	"context"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/bridge"
	"github.com/scimbridge/scimbridge/schema"
)

// Pass runs one changed-entries pass of src from pos. It returns the
// changes as describe spells them, sorted, and the last batch's position
// (pos when nothing came); an error from describe fails the test.
func Pass(t testing.TB, src bridge.ChangeSource, pos []byte, describe func(schema.Change) (string, error)) ([]string, []byte) {
	t.Helper()
	var got []string
	err := src.Changes(context.Background(), pos, false, func(b schema.ChangeBatch) error {
		for _, ch := range b.Changes {
			d, err := describe(ch)
			if err != nil {
				return err
			}
			got = append(got, d)
		}
		pos = b.Position
		return nil
	})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	slices.Sort(got)
	return got, pos
}
