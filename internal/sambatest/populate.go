package sambatest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// UserPassword is the password of every user Populate creates with one.
const UserPassword = "Us3r!pass-sambatest"

// The group with more members than AD's default MaxValRange (1,500).
const (
	BigGroup   = "big"
	BigMembers = 2000
)

// userAccountControl values Populate writes.
const (
	uacNormal         = 512 // NORMAL_ACCOUNT
	uacDisabled       = 514 // NORMAL_ACCOUNT | ACCOUNTDISABLE
	uacDisabledNoPass = 546 // what AD gives users added without a password
)

// User is one user Populate creates under PeopleDN.
type User struct {
	SAMAccountName string
	// CN is the RDN value; for most users it is the full name, which may hold
	// spaces, commas and non-ASCII letters.
	CN          string
	GivenName   string
	Surname     string
	DisplayName string
	Mail        string
	// Disabled users have the ACCOUNTDISABLE bit (2) of userAccountControl set.
	Disabled bool
	// Password reports whether the user has UserPassword (the bulk users have none).
	Password bool
}

// DN returns the user's distinguished name.
func (u User) DN() string { return "CN=" + ldap.EscapeDN(u.CN) + "," + PeopleDN }

// Group is one group Populate creates under GroupsDN, with its direct members.
type Group struct {
	Name string
	// Users are the sAMAccountNames of the direct member users.
	Users []string
	// Groups are the names of the direct member groups.
	Groups []string
}

// DN returns the group's distinguished name.
func (g Group) DN() string { return "CN=" + ldap.EscapeDN(g.Name) + "," + GroupsDN }

// Directory is the whole population Populate writes.
type Directory struct {
	Users []User
	// Groups are ordered so that every group comes after the groups it contains.
	Groups []Group
}

// Data returns exactly what Populate writes:
//
//   - OU=People: alice, bob, carol, dave (CN "Doe, Dave"), erin (disabled),
//     zoe ("Zoë Ågren"), frank, grace (in no group), and big0001..big2000
//     (bulk users without password, disabled as AD makes them: 546);
//   - OU=Groups: engineers ⊃ backend ⊃ platform ⊃ sre with users at every
//     level (alice is also directly in sre); outside that tree sales,
//     marketing ⊃ sales, and staff ⊃ {engineers, marketing}; and big with
//     the 2,000 bulk users.
func Data() *Directory {
	person := func(sam, given, sur string) User {
		return User{SAMAccountName: sam, CN: given + " " + sur, GivenName: given, Surname: sur,
			DisplayName: given + " " + sur, Mail: sam + "@" + DNSName, Password: true}
	}
	dave := person("dave", "Dave", "Doe")
	dave.CN = "Doe, Dave"
	erin := person("erin", "Erin", "Evans")
	erin.Disabled = true
	d := &Directory{
		Users: []User{
			person("alice", "Alice", "Archer"),
			person("bob", "Bob", "Baker"),
			person("carol", "Carol", "Chen"),
			dave,
			erin,
			person("zoe", "Zoë", "Ågren"),
			person("frank", "Frank", "Fox"),
			person("grace", "Grace", "Green"),
		},
		Groups: []Group{
			{Name: "sre", Users: []string{"alice", "dave", "erin"}},
			{Name: "platform", Users: []string{"carol", "zoe"}, Groups: []string{"sre"}},
			{Name: "backend", Users: []string{"bob"}, Groups: []string{"platform"}},
			{Name: "engineers", Users: []string{"alice"}, Groups: []string{"backend"}},
			{Name: "sales", Users: []string{"frank"}},
			{Name: "marketing", Users: []string{"zoe"}, Groups: []string{"sales"}},
			{Name: "staff", Groups: []string{"engineers", "marketing"}},
		},
	}
	big := Group{Name: BigGroup}
	for i := 1; i <= BigMembers; i++ {
		n := fmt.Sprintf("%04d", i)
		sam := "big" + n
		d.Users = append(d.Users, User{SAMAccountName: sam, CN: sam, GivenName: "Big", Surname: "User " + n,
			DisplayName: "Big User " + n, Mail: sam + "@" + DNSName, Disabled: true})
		big.Users = append(big.Users, sam)
	}
	d.Groups = append(d.Groups, big)
	return d
}

// User returns the user with this sAMAccountName, or false.
func (d *Directory) User(sam string) (User, bool) {
	for _, u := range d.Users {
		if u.SAMAccountName == sam {
			return u, true
		}
	}
	return User{}, false
}

// Group returns the group with this name, or false.
func (d *Directory) Group(name string) (Group, bool) {
	for _, g := range d.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// TransitiveGroups returns, for every user in at least one group, the sorted
// names of all groups the user is in, directly or through nesting. It is
// computed from the data alone, independently of the directory.
func (d *Directory) TransitiveGroups() map[string][]string {
	parents := map[string][]string{} // member (user "u:sam" or group "g:name") → containing groups
	for _, g := range d.Groups {
		for _, u := range g.Users {
			parents["u:"+u] = append(parents["u:"+u], g.Name)
		}
		for _, c := range g.Groups {
			parents["g:"+c] = append(parents["g:"+c], g.Name)
		}
	}
	out := map[string][]string{}
	for _, u := range d.Users {
		seen := map[string]bool{}
		queue := append([]string(nil), parents["u:"+u.SAMAccountName]...)
		for len(queue) > 0 {
			g := queue[0]
			queue = queue[1:]
			if seen[g] {
				continue
			}
			seen[g] = true
			queue = append(queue, parents["g:"+g]...)
		}
		if len(seen) == 0 {
			continue
		}
		names := make([]string, 0, len(seen))
		for g := range seen {
			names = append(names, g)
		}
		sort.Strings(names)
		out[u.SAMAccountName] = names
	}
	return out
}

// Populate writes Data() into the DC over ldaps as Administrator: the two
// OUs, the users (with UserPassword and userAccountControl 512, or 514 when
// disabled; the bulk users without password, 546), then the groups. It takes
// ~5 s, almost all of it the 2,000 bulk users.
func (dc *DC) Populate(ctx context.Context) error {
	c, err := dc.Dial()
	if err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	defer c.Close()
	for _, ou := range []string{PeopleDN, GroupsDN} {
		req := ldap.NewAddRequest(ou, nil)
		req.Attribute("objectClass", []string{"top", "organizationalUnit"})
		if err := c.Add(req); err != nil {
			return fmt.Errorf("populate: add %s: %w", ou, err)
		}
	}
	d := Data()
	// Adds are pipelined over a few goroutines sharing the connection: Samba
	// is busy with one while the next one travels.
	reqs := make(chan *ldap.AddRequest)
	errs := make(chan error, populateWorkers)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range populateWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range reqs {
				if failed.Load() {
					continue
				}
				if err := c.Add(req); err != nil {
					errs <- fmt.Errorf("populate: add user %s: %w", req.DN, err)
					failed.Store(true)
				}
			}
		}()
	}
	for _, u := range d.Users {
		if ctx.Err() != nil {
			break
		}
		reqs <- userAdd(u)
	}
	close(reqs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dns := map[string]string{}
	for _, u := range d.Users {
		dns["u:"+u.SAMAccountName] = u.DN()
	}
	for _, g := range d.Groups {
		dn := g.DN()
		dns["g:"+g.Name] = dn
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "group"})
		req.Attribute("sAMAccountName", []string{g.Name})
		var members []string
		for _, u := range g.Users {
			members = append(members, dns["u:"+u])
		}
		for _, sub := range g.Groups {
			members = append(members, dns["g:"+sub])
		}
		if len(members) > 0 {
			req.Attribute("member", members)
		}
		if err := c.Add(req); err != nil {
			return fmt.Errorf("populate: add group %s: %w", dn, err)
		}
	}
	return nil
}

// populateWorkers is how many adds are in flight at once.
const populateWorkers = 4

func userAdd(u User) *ldap.AddRequest {
	req := ldap.NewAddRequest(u.DN(), nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	req.Attribute("sAMAccountName", []string{u.SAMAccountName})
	req.Attribute("givenName", []string{u.GivenName})
	req.Attribute("sn", []string{u.Surname})
	req.Attribute("displayName", []string{u.DisplayName})
	req.Attribute("mail", []string{u.Mail})
	if u.Password {
		uac := uacNormal
		if u.Disabled {
			uac = uacDisabled
		}
		req.Attribute("userPrincipalName", []string{u.SAMAccountName + "@" + DNSName})
		req.Attribute("unicodePwd", []string{unicodePwd(UserPassword)})
		req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	}
	return req
}

// unicodePwd encodes a password as AD wants it: the quoted string in UTF-16LE.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}
