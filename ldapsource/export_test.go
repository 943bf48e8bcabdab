package ldapsource

// BulkPath reports whether c's reads take the bulk path, and why not when
// they do not.
func BulkPath(c *Conn) (bool, error) {
	if p := c.bulkErr.Load(); p != nil {
		return c.bulk.Load(), *p
	}
	return c.bulk.Load(), nil
}

// UseGoLDAP makes c's reads take the go-ldap path, to compare the two.
func UseGoLDAP(c *Conn) { c.bulk.Store(false) }
