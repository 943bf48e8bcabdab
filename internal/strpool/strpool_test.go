package strpool

import (
	"fmt"
	"strings"
	"testing"
)

func TestStringsStayIntactAcrossChunks(t *testing.T) {
	var p Pool
	var made, want []string
	for i := 0; i < 20000; i++ { // about four chunks
		s := fmt.Sprintf("uid=user%06d,ou=people,dc=example,dc=com", i)
		made = append(made, p.String(s))
		want = append(want, s)
		if i%7 == 0 {
			b := []byte(s)
			made = append(made, p.Bytes(b))
			b[0] = 'X' // the pool copied it
			want = append(want, s)
		}
	}
	big := string(make([]byte, 3*chunk))
	made, want = append(made, p.String(big)), append(want, big)
	for i := range made {
		if made[i] != want[i] {
			t.Fatalf("string %d = %q, want %q", i, made[i], want[i])
		}
	}
	if p.String("") != "" || p.Bytes(nil) != "" {
		t.Fatal("empty strings are not empty")
	}
}

func TestPooledStringsShareChunks(t *testing.T) {
	var p Pool
	s := "cn=somebody,ou=people,dc=example,dc=com"
	allocs := testing.AllocsPerRun(1000, func() { _ = p.String(s) })
	if allocs > 0.01 {
		t.Fatalf("%.3f allocations per string, want about one per %d bytes", allocs, chunk)
	}
}

func TestArenaGivesBackEveryString(t *testing.T) {
	var a Arena
	if a.At(0) != "" || a.Keep("") != 0 {
		t.Fatal("the zero Ref is not the empty string")
	}
	var refs []Ref
	var want []string
	for i := 0; i < 20000; i++ { // about seven chunks
		s := fmt.Sprintf("uid=user%06d,ou=people,dc=example,dc=com", i)
		if i%1000 == 0 {
			s = strings.Repeat("x", 200+i) // lengths of two-byte varints
		}
		refs, want = append(refs, a.Keep(s)), append(want, s)
	}
	big := strings.Repeat("y", 3*chunk) // longer than a chunk: a chunk of its own
	refs, want = append(refs, a.Keep(big), a.Keep("after")), append(want, big, "after")
	for i := range refs {
		if got := a.At(refs[i]); got != want[i] {
			t.Fatalf("ref %d = %q, want %q", i, got, want[i])
		}
	}
	if len(a.chunks) < 8 {
		t.Fatalf("%d chunks, want the strings spread over 8 or more", len(a.chunks))
	}
}

func TestArenaKeepsWithoutAllocating(t *testing.T) {
	var a Arena
	s := "cn=somebody,ou=people,dc=example,dc=com"
	allocs := testing.AllocsPerRun(1000, func() { _ = a.At(a.Keep(s)) })
	if allocs > 0.01 {
		t.Fatalf("%.3f allocations per string, want about one per %d bytes", allocs, chunk)
	}
}
