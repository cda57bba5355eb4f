package slapd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is what the harness writes for TLS: the CA that signed the server's
// certificate, the server's certificate and key, and a second CA that
// signed nothing the server presents (for "wrong CA" tests).
type pki struct {
	caFile, certFile, keyFile, otherCAFile string
}

// writePKI makes a fresh CA and a server certificate for 127.0.0.1, ::1
// and localhost in dir. The keys are ECDSA P-256, which both Go and the
// GnuTLS that Debian's slapd is built with accept.
func writePKI(dir string) (pki, error) {
	p := pki{
		caFile:      filepath.Join(dir, "ca.pem"),
		certFile:    filepath.Join(dir, "server.pem"),
		keyFile:     filepath.Join(dir, "server.key"),
		otherCAFile: filepath.Join(dir, "other-ca.pem"),
	}
	caCert, caKey, err := newCA("slapd test CA")
	if err != nil {
		return p, err
	}
	otherCA, _, err := newCA("slapd test CA that signed nothing")
	if err != nil {
		return p, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return p, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return p, err
	}
	files := map[string]*pem.Block{
		p.caFile:      {Type: "CERTIFICATE", Bytes: caCert.Raw},
		p.otherCAFile: {Type: "CERTIFICATE", Bytes: otherCA.Raw},
		p.certFile:    {Type: "CERTIFICATE", Bytes: der},
		p.keyFile:     {Type: "PRIVATE KEY", Bytes: keyDER},
	}
	for path, block := range files {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return p, err
		}
	}
	return p, nil
}

// newCA makes a self-signed CA certificate and its key.
func newCA(name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
