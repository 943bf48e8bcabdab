package bridge

import (
	"crypto/sha256"
	"sort"
	"strconv"

	"github.com/scimbridge/scimbridge/schema"
)

// directory is what a run keeps of the directory besides the users.
type directory struct {
	groups []mappedGroup
	// protect holds the folded DNs of skipped entries: the stored users and
	// groups they are stay as they are, never deleted for a bad value.
	protect map[string]bool
	// keptGroups says a stored group is kept this run (see protect).
	keptGroups bool
}

type mappedGroup struct {
	schema.Group
	dnNorm   string
	nameNorm string
	id       string
	users    []int32  // direct user members (accepted user entries)
	kept     []Member // stored users and groups whose entries were skipped this run
	children []int32  // direct group members
	parents  []int32  // groups this group is a direct member of
}

// ancestors returns, for each group, every group it is in through nesting
// (not itself). Cycles terminate: each group is visited once per walk.
func ancestors(groups []mappedGroup) [][]int32 {
	out := make([][]int32, len(groups))
	seen := make([]int32, len(groups)) // walk stamp per group
	for i := range seen {
		seen[i] = -1
	}
	var stack []int32
	for gi := range groups {
		stack = append(stack[:0], groups[gi].parents...)
		seen[gi] = int32(gi)
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[p] == int32(gi) {
				continue
			}
			seen[p] = int32(gi)
			out[gi] = append(out[gi], p)
			stack = append(stack, groups[p].parents...)
		}
	}
	return out
}

// userMemberships returns a user's transitive groups, each once, direct when
// the user is a direct member (even if also nested), sorted by group id.
func userMemberships(direct []int32, groups []mappedGroup, anc [][]int32) []Membership {
	if len(direct) == 0 {
		return nil
	}
	set := make(map[int32]bool, len(direct)*3)
	for _, gi := range direct {
		set[gi] = true
	}
	for _, gi := range direct {
		for _, a := range anc[gi] {
			if _, ok := set[a]; !ok {
				set[a] = false
			}
		}
	}
	ms := make([]Membership, 0, len(set))
	for gi, direct := range set {
		ms = append(ms, Membership{GroupID: groups[gi].id, Direct: direct})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].GroupID < ms[j].GroupID })
	return ms
}

// groupMembers returns a group's direct members, sorted by type and id;
// userID maps an accepted user entry to its id.
func groupMembers(g *mappedGroup, userID func(int32) string, groups []mappedGroup) []Member {
	ms := make([]Member, 0, len(g.users)+len(g.kept)+len(g.children))
	for _, ui := range g.users {
		ms = append(ms, Member{ID: userID(ui), Type: MemberUser})
	}
	if len(g.kept) > 0 {
		have := make(map[string]bool, len(ms))
		for _, m := range ms {
			have[m.ID] = true
		}
		for _, m := range g.kept {
			if !have[m.ID] {
				ms = append(ms, m)
			}
		}
	}
	for _, ci := range g.children {
		ms = append(ms, Member{ID: groups[ci].id, Type: MemberGroup})
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].Type != ms[j].Type {
			return ms[i].Type < ms[j].Type
		}
		return ms[i].ID < ms[j].ID
	})
	return ms
}

// hasher builds short content hashes from fields.
type hasher struct{ b []byte }

func (h *hasher) add(s ...string) *hasher {
	for _, v := range s {
		h.b = strconv.AppendInt(h.b, int64(len(v)), 10)
		h.b = append(h.b, ':')
		h.b = append(h.b, v...)
	}
	return h
}

func (h *hasher) sum() string { return h.digest().String() }

func (h *hasher) digest() Digest {
	s := sha256.Sum256(h.b)
	h.b = h.b[:0]
	return Digest(s[:16])
}

func (h *hasher) user(u *schema.User) Digest {
	active := "0"
	if u.Active {
		active = "1"
	}
	return h.add(u.ExternalID, u.DN, u.UserName, u.GivenName, u.FamilyName, u.DisplayName,
		u.Email, active, u.EmployeeNumber, u.Department, u.MemberKey).digest()
}

func (h *hasher) group(g *mappedGroup) string {
	return h.add(g.ExternalID, g.DN, g.Name).sum()
}

func (h *hasher) memberships(ms []Membership) Digest {
	for _, m := range ms {
		d := "i"
		if m.Direct {
			d = "d"
		}
		h.add(m.GroupID, d)
	}
	return h.digest()
}

func (h *hasher) members(ms []Member) string {
	for _, m := range ms {
		h.add(m.Type, m.ID)
	}
	return h.sum()
}

func (h *hasher) version(a, b string) string {
	return h.add(a, b).sum()[:16]
}
