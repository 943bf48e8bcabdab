package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
)

// Where the generated directory lives (the suffix is slapdtest's).
const (
	peopleDN = "ou=people,dc=example,dc=com"
	groupsDN = "ou=groups,dc=example,dc=com"
	// pushSample marks (employeeType) the users of the push benchmark's store.
	pushSample = "push-sample"
)

// levelShares are the directory shapes: the share of groups on each nesting
// level, top first. Every group below the top has one parent on the level
// above, so chains are three or four groups deep (a level-2 group without
// children ends a chain of three). "wide" is the shape of the first
// benchmarks; in "deep" most groups are at the deepest level, so most users
// are in four groups at once through each direct membership.
var levelShares = map[string][]int{
	"wide": {5, 15, 30, 50},
	"deep": {2, 4, 9, 85},
}

var firstNames = []string{"Ada", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Goran", "Hana", "Ines", "Jon",
	"Kemal", "Lena", "Mateo", "Nora", "Otto", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Ulla", "Vera", "Wei", "Yusuf", "Zoë"}
var lastNames = []string{"Abara", "Berg", "Costa", "Dubois", "Ekström", "Fischer", "García", "Horvat", "Ito", "Jansen",
	"Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Umarov", "Vogel", "Weber", "Yilmaz", "Zhang"}

// directory is a generated directory: n users and n/50 groups (at least one),
// derived only from n and the seed.
type directory struct {
	n, groups int
	width     int // digits in a user's number
	// level[g] is group g's nesting level, 0 at the top.
	level []int
	// parent[g] is the group that lists g as a member, -1 for top groups.
	parent []int
	// children[g] lists the groups group g has as members.
	children [][]int
	// users[g] lists the users that are direct members of group g.
	users [][]int32
	// changed are the users whose mail the 1% change rewrites.
	changed []int
	// pushUsers is how many users (the first ones) carry employeeType push-sample.
	pushUsers int
}

// generate lays out the directory in the shape levelShares[shape]; it
// writes nothing.
func generate(n int, seed uint64, pushUsers int, shape string) *directory {
	levelShare := levelShares[shape]
	rng := rand.New(rand.NewPCG(seed, 0x5c1b))
	g := max(1, n/50)
	d := &directory{n: n, groups: g, width: max(6, len(strconv.Itoa(n))), pushUsers: min(pushUsers, n),
		level: make([]int, g), parent: make([]int, g), children: make([][]int, g), users: make([][]int32, g)}
	// Split the groups into levels; the first group of each level is kept
	// non-empty for as many levels as there are groups.
	start := 0
	var bounds [][2]int
	for li, share := range levelShare {
		size := g * share / 100
		if li == len(levelShare)-1 {
			size = g - start
		}
		size = max(size, min(1, g-start))
		bounds = append(bounds, [2]int{start, start + size})
		start += size
	}
	for li, b := range bounds {
		for i := b[0]; i < b[1]; i++ {
			d.level[i] = li
			d.parent[i] = -1
			if li > 0 && bounds[li-1][1] > bounds[li-1][0] {
				p := bounds[li-1]
				d.parent[i] = p[0] + rng.IntN(p[1]-p[0])
				d.children[d.parent[i]] = append(d.children[d.parent[i]], i)
			}
		}
	}
	for u := range n {
		k := 1 + rng.IntN(3)
		var picked [3]int
		for j := 0; j < k; j++ {
			gi := rng.IntN(g)
			dup := false
			for _, p := range picked[:j] {
				dup = dup || p == gi
			}
			if dup {
				k--
				j--
				continue
			}
			picked[j] = gi
			d.users[gi] = append(d.users[gi], int32(u))
		}
	}
	// groupOfNames needs a member: give an empty group one user.
	for gi := range d.users {
		if len(d.users[gi]) == 0 && len(d.children[gi]) == 0 {
			d.users[gi] = append(d.users[gi], int32(gi%n))
		}
	}
	// One user of every hundred, at a random place in its hundred.
	for h := 0; h+100 <= n; h += 100 {
		d.changed = append(d.changed, h+rng.IntN(100))
	}
	return d
}

// userName is user i's uid, e.g. user000042.
func (d *directory) userName(i int) string { return fmt.Sprintf("user%0*d", d.width, i) }

func (d *directory) userDN(i int) string { return "uid=" + d.userName(i) + "," + peopleDN }

func groupName(g int) string { return fmt.Sprintf("group%05d", g) }

func groupDN(g int) string { return "cn=" + groupName(g) + "," + groupsDN }

// mail is user i's address; version 0 is the generated one.
func (d *directory) mail(i, version int) string {
	if version == 0 {
		return d.userName(i) + "@example.com"
	}
	return fmt.Sprintf("%s.v%d@example.com", d.userName(i), version)
}

// depth returns the number of groups in the longest chain from a top group down.
func (d *directory) depth() int {
	best := 0
	for g := range d.level {
		best = max(best, d.level[g]+1)
	}
	return best
}

// memberships counts direct user memberships and nested group memberships.
func (d *directory) memberships() (users, groups int) {
	for g := range d.users {
		users += len(d.users[g])
		if d.parent[g] >= 0 {
			groups++
		}
	}
	return users, groups
}

// leafWithUsers returns a group on the deepest level with at least one user,
// for the scoped push.
func (d *directory) leafWithUsers() int {
	best := -1
	for g := range d.users {
		if len(d.users[g]) > 0 && (best < 0 || d.level[g] > d.level[best]) {
			best = g
		}
	}
	return best
}

// writeLDIF writes the whole directory (containers, users, groups) as add
// records for slapadd, streaming: memory stays flat for millions of users.
// A stamp (generalized time) is given to every entry as its
// createTimestamp and modifyTimestamp; without one slapadd stamps the load.
func (d *directory) writeLDIF(path, stamp string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write LDIF: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	stamped := ""
	if stamp != "" {
		stamped = "createTimestamp: " + stamp + "\nmodifyTimestamp: " + stamp + "\n"
	}
	fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalUnit\nou: people\n%s\n", peopleDN, stamped)
	fmt.Fprintf(w, "dn: %s\nobjectClass: organizationalUnit\nou: groups\n%s\n", groupsDN, stamped)
	for i := range d.n {
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		name := d.userName(i)
		fmt.Fprintf(w, "dn: %s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s %s\nsn: %s\ngivenName: %s\ndisplayName: %s %s\nmail: %s\n",
			d.userDN(i), name, first, last, last, first, first, last, d.mail(i, 0))
		if i < d.pushUsers {
			fmt.Fprintf(w, "employeeType: %s\n", pushSample)
		}
		w.WriteString(stamped)
		w.WriteByte('\n')
	}
	for g := range d.groups {
		fmt.Fprintf(w, "dn: %s\nobjectClass: groupOfNames\ncn: %s\n", groupDN(g), groupName(g))
		for _, c := range d.children[g] {
			fmt.Fprintf(w, "member: %s\n", groupDN(c))
		}
		for _, u := range d.users[g] {
			fmt.Fprintf(w, "member: %s\n", d.userDN(int(u)))
		}
		w.WriteString(stamped)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write LDIF: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write LDIF: %w", err)
	}
	return nil
}
