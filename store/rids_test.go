package store

import "testing"

// A ridMap keeps canonical UUIDs as their bytes and every other id as its
// text: ids that differ only in case, or that are not UUIDs, never share
// a rowid, and forget drops either kind.
func TestRIDMapKeepsEveryIDApart(t *testing.T) {
	ids := []struct {
		id   string
		uuid bool
	}{
		{"7f280bf0-9b09-5219-b06b-b8bf77cdfc1d", true},
		{"7F280BF0-9B09-5219-B06B-B8BF77CDFC1D", false},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"7f280bf0-9b09-5219-b06b-b8bf77cdfc1", false},
		{"7f280bf0-9b09-5219-b06b-b8bf77cdfc1d0", false},
		{"7f280bf09b09-5219-b06b-b8bf77cdfc1d-", false},
		{"7f280bf0-9b09-5219-b06b-b8bf77cdfc1g", false},
		{"u1", false},
		{"", false},
	}
	m := newRIDMap("users")
	for i, c := range ids {
		if _, ok := uuidKey(c.id); ok != c.uuid {
			t.Errorf("uuidKey(%q) ok = %v, want %v", c.id, ok, c.uuid)
		}
		m.set(c.id, int64(i+1))
	}
	for i, c := range ids {
		if rid, ok := m.get(c.id); !ok || rid != int64(i+1) {
			t.Errorf("get(%q) = %d, %v; want %d", c.id, rid, ok, i+1)
		}
	}
	equal(t, "sizes", [2]int{len(m.uuids), len(m.ids)}, [2]int{3, 7})
	for _, c := range ids {
		m.forget([]string{c.id})
		if _, ok := m.get(c.id); ok {
			t.Errorf("get(%q) after forget: still mapped", c.id)
		}
	}
	equal(t, "sizes after forget", [2]int{len(m.uuids), len(m.ids)}, [2]int{0, 0})
}
