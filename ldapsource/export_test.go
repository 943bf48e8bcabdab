package ldapsource

// UseGoLDAP makes c's reads take the go-ldap path, to compare the two.
func UseGoLDAP(c *Conn) { c.bulk.Store(false) }
