package keyindex

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// keys is what a caller keeps: the key of value v is keys[v].
type keys []string

func (k *keys) index(n int) *Index { return New(n, func(v int32) string { return (*k)[v] }) }

// fill adds n keys to an index sized for sized, checking each answer.
func fill(t *testing.T, n, sized int) (*keys, *Index) {
	t.Helper()
	k := &keys{}
	x := k.index(sized)
	for i := range n {
		s := fmt.Sprintf("uid=user%06d,ou=people,dc=example,dc=com", i)
		*k = append(*k, s)
		if v, added := x.Add(s, int32(i)); !added || v != int32(i) {
			t.Fatalf("Add(%q, %d) = %d, %v; want %d, true", s, i, v, added, i)
		}
	}
	return k, x
}

// check looks every key up, and keys never added.
func check(t *testing.T, k *keys, x *Index) {
	t.Helper()
	if x.Len() != len(*k) {
		t.Fatalf("Len() = %d, want %d", x.Len(), len(*k))
	}
	for i, s := range *k {
		if v, ok := x.Get(s); !ok || v != int32(i) {
			t.Fatalf("Get(%q) = %d, %v; want %d, true", s, v, ok, i)
		}
		if v, added := x.Add(s, 999999); added || v != int32(i) {
			t.Fatalf("Add(%q) again = %d, %v; want %d, false", s, v, added, i)
		}
	}
	added := map[string]bool{}
	for _, s := range *k {
		added[s] = true
	}
	last := (*k)[len(*k)-1]
	for _, s := range []string{"", "uid=user,ou=people,dc=example,dc=com", last + "x", last[1:]} {
		if v, ok := x.Get(s); ok && !added[s] {
			t.Fatalf("Get(%q) = %d, true; it was never added", s, v)
		}
	}
}

func TestIndexFindsEveryKeyAsItGrows(t *testing.T) {
	k, x := fill(t, 100000, 0) // from 8 cells, doubling 15 times
	check(t, k, x)
	if len(x.cells) != 1<<18 {
		t.Fatalf("%d cells for 100000 keys, want %d (at most three quarters full)", len(x.cells), 1<<18)
	}
}

func TestIndexSizedAheadDoesNotGrow(t *testing.T) {
	k, x := fill(t, 3000, 3000)
	check(t, k, x)
	if len(x.cells) != 4096 {
		t.Fatalf("%d cells, want the 4096 New made for 3000 keys", len(x.cells))
	}
}

// TestIndexTellsKeysWithOneHashApart: when every key has the same hash,
// the keys themselves decide.
func TestIndexTellsKeysWithOneHashApart(t *testing.T) {
	saved := hashString
	defer func() { hashString = saved }()
	hashString = func(maphash.Seed, string) uint32 { return 7 }
	k, x := fill(t, 500, 0)
	check(t, k, x)
}

// TestIndexWrapsAroundTheTable: probes that run past the last cell go on at
// the first.
func TestIndexWrapsAroundTheTable(t *testing.T) {
	saved := hashString
	defer func() { hashString = saved }()
	hashString = func(_ maphash.Seed, s string) uint32 { return 6 + uint32(len(s)%2) } // cells 6 and 7 of 8
	k := &keys{"a", "bb", "c", "dd", "e"}
	x := k.index(5)
	for i, s := range *k {
		x.Add(s, int32(i))
	}
	check(t, k, x)
}

func TestIndexEmptyKey(t *testing.T) {
	k := &keys{"", "a"}
	x := k.index(0)
	if _, ok := x.Get(""); ok {
		t.Fatal(`Get("") found a value in an empty index`)
	}
	x.Add("", 0)
	x.Add("a", 1)
	check(t, k, x)
}

func BenchmarkIndexGet(b *testing.B) {
	k := &keys{}
	x := k.index(1 << 20)
	for i := range 1 << 20 {
		*k = append(*k, fmt.Sprintf("uid=user%07d,ou=people,dc=example,dc=com", i))
		x.Add((*k)[i], int32(i))
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok := x.Get((*k)[i&(1<<20-1)]); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkMapGet(b *testing.B) {
	var k []string
	m := make(map[string]int32, 1<<20)
	for i := range 1 << 20 {
		k = append(k, fmt.Sprintf("uid=user%07d,ou=people,dc=example,dc=com", i))
		m[k[i]] = int32(i)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok := m[k[i&(1<<20-1)]]; !ok {
			b.Fatal("missing")
		}
	}
}

// TestIndexAgreesWithAMap: random adds and look-ups, over keys that share
// long prefixes and hashes cut to a few bits, give what a map gives.
func TestIndexAgreesWithAMap(t *testing.T) {
	saved := hashString
	defer func() { hashString = saved }()
	for _, bits := range []uint{3, 12, 32} {
		hashString = func(seed maphash.Seed, s string) uint32 { return saved(seed, s) & (1<<bits - 1) }
		rng := rand.New(rand.NewPCG(1, uint64(bits)))
		k := &keys{}
		x := k.index(int(rng.IntN(100)))
		m := map[string]int32{}
		for range 20000 {
			s := fmt.Sprintf("cn=%d,ou=people", rng.IntN(5000))
			if rng.IntN(2) == 0 {
				v, ok := x.Get(s)
				if want, wantOK := m[s]; v != want || ok != wantOK {
					t.Fatalf("%d bits: Get(%q) = %d, %v; the map has %d, %v", bits, s, v, ok, want, wantOK)
				}
				continue
			}
			next := int32(len(*k))
			v, added := x.Add(s, next)
			want, had := m[s]
			if !had {
				want = next
				m[s] = next
				*k = append(*k, s)
			}
			if v != want || added == had {
				t.Fatalf("%d bits: Add(%q, %d) = %d, %v; the map has %d, %v", bits, s, next, v, added, want, had)
			}
		}
		if x.Len() != len(m) {
			t.Fatalf("%d bits: Len() = %d, the map has %d", bits, x.Len(), len(m))
		}
	}
}
