package bridge

import (
	"sort"

	"github.com/scimbridge/scimbridge/schema"
)

// mappedGroup is a group entry the run keeps.
type mappedGroup struct {
	schema.Group
	dnNorm   string
	nameNorm string
	id       string
	users    []candID // direct user members (kept user candidates)
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
func userMemberships(direct []int32, gi *groupIndex) []Membership {
	groups, anc := gi.groups, gi.anc
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
// userID maps a kept user candidate to its id.
func groupMembers(g *mappedGroup, userID func(candID) string, groups []mappedGroup) []Member {
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

// keep adds m, a stored user or group kept this run, to g's members once.
func (g *mappedGroup) keep(m Member) {
	for _, k := range g.kept {
		if k.ID == m.ID {
			return
		}
	}
	g.kept = append(g.kept, m)
}
