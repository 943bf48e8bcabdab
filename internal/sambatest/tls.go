package sambatest

import (
	"fmt"
	"net"
	"os"

	"github.com/scimbridge/scimbridge/internal/testpki"
)

// writeTLS writes ca.pem, cert.pem and key.pem into dir: a fresh CA and a
// server certificate for ip and host. It returns the CA's PEM.
func writeTLS(dir, ip, host string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create TLS directory: %w", err)
	}
	p, err := testpki.New(host, []string{host}, []net.IP{net.ParseIP(ip)})
	if err != nil {
		return nil, err
	}
	if err := p.WriteFiles(dir, "ca.pem", "cert.pem", "key.pem"); err != nil {
		return nil, err
	}
	return p.CAPEM, nil
}
