package ldapsource

import "time"

// UseGoLDAP makes c's reads take the go-ldap path, to compare the two.
func UseGoLDAP(c *Conn) { c.bulk.Store(false) }

// SetTimestampOverlap sets how far before the high-water mark a timestamps
// pass reads, and returns a func restoring it.
func SetTimestampOverlap(d time.Duration) func() {
	old := timestampOverlap
	timestampOverlap = d
	return func() { timestampOverlap = old }
}
