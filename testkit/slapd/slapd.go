// Package slapd runs a real OpenLDAP slapd on loopback for tests, so an
// LDAP client is tested against the protocol as a directory speaks it
// (binds, searches, StartTLS, LDAPS, an unauthenticated bind) rather than
// against a mock.
//
// Start builds a temporary cn=config with slapadd (the mdb backend and the
// memberof overlay, loaded as modules as Debian ships them), a CA and a
// server certificate made in Go, and one database for Suffix whose root is
// RootDN. It runs slapd in the foreground on two free loopback ports, one
// for ldap:// (which offers StartTLS) and one for ldaps://, waits until it
// answers, and loads the test's entries with ldapadd as the root, so that
// the overlay fills in memberOf as it would on a live server. Stop kills
// the server, to test a directory that goes away; Start brings it back on
// the same ports with the same data. Everything is removed when the test
// ends.
//
// Without slapd, slapadd and ldapadd (Debian's slapd and ldap-utils
// packages), Start skips the test and says why.
package slapd

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The directory's names.
const (
	// Suffix is the naming context of the directory's one database.
	Suffix = "dc=example,dc=org"
	// RootDN is the database's root, which may do anything; its password
	// is Server.RootPassword.
	RootDN = "cn=admin," + Suffix
)

// Options says what the directory holds and how it behaves.
type Options struct {
	// LDIF holds the entries to load below the suffix's own entry, which
	// the harness adds. Give userPassword as SSHA(password) (or in clear,
	// which slapd also accepts for a simple bind). memberOf is maintained
	// by the server for groupOfNames groups: do not write it.
	LDIF string
	// AllowUnauthenticatedBind sets olcAllows: bind_anon_dn, so that a
	// simple bind with a DN and an empty password succeeds as anonymous
	// (RFC 4513 section 5.1.2), as it does on many servers. It is off by
	// default in OpenLDAP.
	AllowUnauthenticatedBind bool
}

// Server is a running slapd.
type Server struct {
	// LDAPURL is ldap://127.0.0.1:PORT; the server offers StartTLS on it.
	LDAPURL string
	// LDAPSURL is ldaps://127.0.0.1:PORT.
	LDAPSURL string
	// CAFile is the PEM file of the CA that signed the server's
	// certificate (for 127.0.0.1, ::1 and localhost).
	CAFile string
	// OtherCAFile is the PEM file of a CA that signed nothing the server
	// presents: a client that trusts only it must refuse the server.
	OtherCAFile string
	// RootPassword is RootDN's password.
	RootPassword string
	// Dir is the server's temporary directory.
	Dir string

	t        testing.TB
	bin      string
	confDir  string
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	log      *bytes.Buffer
	ldapPort int
	tlsPort  int
}

// Binaries the harness runs. Debian puts slapd and slapadd in /usr/sbin,
// which is not always in a test's PATH.
var (
	slapdPaths   = []string{"slapd", "/usr/sbin/slapd"}
	slapaddPaths = []string{"slapadd", "/usr/sbin/slapadd"}
	ldapaddPaths = []string{"ldapadd", "/usr/bin/ldapadd"}
)

// lookPath returns the first of candidates that is an executable, by name
// in PATH or by absolute path.
func lookPath(candidates []string) (string, error) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", candidates[0])
}

// Available reports why slapd cannot run here, or nil when it can.
func Available() error {
	for _, c := range [][]string{slapdPaths, slapaddPaths, ldapaddPaths} {
		if _, err := lookPath(c); err != nil {
			return fmt.Errorf("%v: apt-get install slapd ldap-utils", err)
		}
	}
	for _, f := range []string{filepath.Join(schemaDir, "core.ldif"), filepath.Join(moduleDir, "back_mdb.la")} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("slapd is installed without %s: %v", f, err)
		}
	}
	return nil
}

// Start configures and starts a slapd for the test, loaded with
// opts.LDIF, and stops it when the test ends. It skips the test when
// slapd cannot run here.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("slapd not available: %v", err)
	}
	s := &Server{t: t, Dir: t.TempDir(), RootPassword: rand.Text()}
	s.bin, _ = lookPath(slapdPaths)
	slapadd, _ := lookPath(slapaddPaths)
	ldapadd, _ := lookPath(ldapaddPaths)
	s.confDir = filepath.Join(s.Dir, "slapd.d")
	for _, d := range []string{s.confDir, filepath.Join(s.Dir, "data")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	tls, err := writePKI(s.Dir)
	if err != nil {
		t.Fatalf("slapd: making certificates: %v", err)
	}
	s.CAFile, s.OtherCAFile = tls.caFile, tls.otherCAFile
	config := filepath.Join(s.Dir, "config.ldif")
	if err := writeFile(config, configLDIF(s.Dir, tls, SSHA(s.RootPassword), opts)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(slapadd, "-n0", "-F", s.confDir, "-l", config).CombinedOutput(); err != nil {
		t.Skipf("slapd cannot run here: slapadd of its configuration failed: %v\n%s", err, out)
	}
	t.Cleanup(s.Stop)

	// A port picked free may be taken by someone else before slapd binds
	// it: try again with other ports. With -d 0 slapd may exit on it
	// without a word, so any early exit is tried again.
	for attempt := 1; ; attempt++ {
		s.ldapPort, s.tlsPort = freePort(t), freePort(t)
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 3 || !(errors.Is(err, errExited) || strings.Contains(s.Log(), "bind(")) {
			t.Fatalf("slapd did not start: %v\n%s", err, s.Log())
		}
	}
	s.LDAPURL = fmt.Sprintf("ldap://127.0.0.1:%d", s.ldapPort)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.tlsPort)

	cmd := exec.Command(ldapadd, "-x", "-H", s.LDAPURL, "-D", RootDN, "-y", s.rootPasswordFile(t))
	cmd.Stdin = strings.NewReader(suffixLDIF + "\n" + opts.LDIF)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slapd: loading the entries with ldapadd: %v\n%s", err, out)
	}
	return s
}

// rootPasswordFile writes the root's password to a file for ldapadd -y,
// which reads it without a trailing newline.
func (s *Server) rootPasswordFile(t testing.TB) string {
	path := filepath.Join(s.Dir, "root.pw")
	if err := writeFile(path, s.RootPassword); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start starts the server again after Stop, on the same ports with the
// same data, and waits until it answers. It fails the test if it cannot.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("slapd did not start again: %v\n%s", err, s.Log())
	}
}

// errExited is start's error for a slapd that exited before it answered.
var errExited = errors.New("slapd exited")

// start runs slapd in the foreground (-d 0: no debug output, but it does
// not detach) and waits until it answers a search of the root DSE.
func (s *Server) start() error {
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return errors.New("slapd is already running")
	}
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s.ldapPort, s.tlsPort)
	cmd := exec.Command(s.bin, "-F", s.confDir, "-h", urls, "-d", "0")
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &s.mu, w: log}, &lockedWriter{mu: &s.mu, w: log}
	configureProcess(cmd)
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.log = cmd, exited, log
	s.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("%w: %v", errExited, cmd.ProcessState)
		default:
		}
		if answers(fmt.Sprintf("ldap://127.0.0.1:%d", s.ldapPort)) {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return errors.New("slapd did not answer within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether a directory answers a search of its root DSE
// at url.
func answers(url string) bool {
	c, err := ldap.DialURL(url, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"namingContexts"}, nil))
	return err == nil
}

// Stop kills the server (SIGKILL: a directory that goes away, not one
// that says goodbye) and waits until it has exited. Connections to it
// break. It does nothing when the server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Log returns what slapd has written since its last start.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Admin returns a connection bound as RootDN, for a test that changes
// the directory while it runs; it is closed when the test ends.
func (s *Server) Admin(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL(s.LDAPURL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("slapd: connecting as the root: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(RootDN, s.RootPassword); err != nil {
		t.Fatalf("slapd: binding as the root: %v", err)
	}
	return c
}

// lockedWriter writes to w under mu, so that Log can read what slapd
// writes while it runs.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
