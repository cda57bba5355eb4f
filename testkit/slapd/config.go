package slapd

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// schemaDir holds the schema LDIF files of Debian's slapd package.
const schemaDir = "/etc/ldap/schema"

// moduleDir holds the dynamically loaded backends and overlays of
// Debian's slapd package: back_mdb is a module there, not built in.
const moduleDir = "/usr/lib/ldap"

// SSHA returns password hashed as OpenLDAP's {SSHA} scheme stores it in
// userPassword: base64(SHA-1(password + salt) + salt), with an 8-byte
// random salt. It is what slappasswd makes by default.
func SSHA(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// configLDIF is the server's cn=config, loaded with slapadd -n0: the
// mdb backend and the memberof overlay (as modules), the core schemas
// that inetOrgPerson and groupOfNames need, TLS, and one database for
// Suffix with RootDN.
func configLDIF(dir string, tls pki, rootPasswordHash string, opts Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %s
olcArgsFile: %s
olcTLSCACertificateFile: %s
olcTLSCertificateFile: %s
olcTLSCertificateKeyFile: %s
`, filepath.Join(dir, "slapd.pid"), filepath.Join(dir, "slapd.args"), tls.caFile, tls.certFile, tls.keyFile)
	if opts.AllowUnauthenticatedBind {
		// A simple bind with a DN and an empty password then succeeds as
		// anonymous (RFC 4513 section 5.1.2), as it does on many servers.
		b.WriteString("olcAllows: bind_anon_dn\n")
	}
	fmt.Fprintf(&b, `
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: %s
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://%[2]s/core.ldif
include: file://%[2]s/cosine.ldif
include: file://%[2]s/nis.ldif
include: file://%[2]s/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 500

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: %[3]s
olcDbMaxSize: 16777216
olcSuffix: %[4]s
olcRootDN: %[5]s
olcRootPW: %[6]s
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by * read
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
`, moduleDir, schemaDir, filepath.Join(dir, "data"), Suffix, RootDN, rootPasswordHash)
	return b.String()
}

// suffixLDIF is the entry of the suffix itself, which every fixture
// hangs under.
const suffixLDIF = `dn: ` + Suffix + `
objectClass: dcObject
objectClass: organization
dc: example
o: Example
`

// writeFile writes a file of the harness, readable by its owner only.
func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
