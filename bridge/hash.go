package bridge

import (
	"crypto/sha256"
	"strconv"

	"github.com/scimbridge/scimbridge/schema"
)

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

func (h *hasher) group(g *mappedGroup) string { return h.groupDigest(g).String() }

func (h *hasher) groupDigest(g *mappedGroup) Digest {
	return h.add(g.ExternalID, g.DN, g.Name).digest()
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
