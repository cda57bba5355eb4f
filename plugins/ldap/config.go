package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
)

// Config is the plugin's `config:` section as written.
type Config struct {
	// URL is the directory: ldaps://host[:port], or ldap://host[:port]
	// with StartTLS.
	URL string `json:"url"`
	// StartTLS upgrades an ldap:// connection to TLS before anything is
	// sent on it.
	StartTLS bool `json:"start_tls"`
	// CAFile is a PEM file of the CA certificates the server's
	// certificate must chain to (default: the system's).
	CAFile string `json:"ca_file"`
	// TLSServerName is the name the server's certificate must hold
	// (default: the URL's host).
	TLSServerName string `json:"tls_server_name"`

	// UserDN is the bind-as-user mode: the user's DN, with {username}
	// where the login name goes, escaped for a DN.
	UserDN string `json:"user_dn"`
	// UserSearch is the search-then-bind mode: the service account finds
	// the user's entry, then the plugin binds as it.
	UserSearch UserSearchConfig `json:"user_search"`
	// BindDN and its password are the service account of the
	// search-then-bind mode. The password is given as ${ENV} in
	// BindPassword, or in a file, BindPasswordFile, read at Configure.
	BindDN           string `json:"bind_dn"`
	BindPassword     string `json:"bind_password"`
	BindPasswordFile string `json:"bind_password_file"`

	// UsernameAttribute holds the login name as the directory spells it
	// (default uid).
	UsernameAttribute string `json:"username_attribute"`
	// SubjectAttribute holds the user's stable id (default entryUUID);
	// "dn" uses the entry's DN.
	SubjectAttribute string `json:"subject_attribute"`

	// Groups says how a user's groups are found; Roles maps a group to
	// the roles it gives.
	Groups GroupsConfig        `json:"groups"`
	Roles  map[string][]string `json:"roles"`

	// PoolSize bounds the connections of each kind the plugin keeps
	// (default 4).
	PoolSize int `json:"pool_size"`
	// DialTimeout bounds a connection's setup, TLS included (default
	// 5s); Timeout bounds a login's whole exchange with the directory
	// (default 5s).
	DialTimeout string `json:"dial_timeout"`
	Timeout     string `json:"timeout"`
}

// UserSearchConfig is how the service account finds a user's entry.
type UserSearchConfig struct {
	Base string `json:"base"`
	// Filter has {username} where the login name goes, escaped for a
	// filter (default (uid={username})).
	Filter string `json:"filter"`
	// Scope is sub (default) or one.
	Scope string `json:"scope"`
	// DecoyDN is an entry bound with the password when no user matches,
	// so that an unknown user costs the directory what a known one does
	// (default: a DN under Base that does not exist).
	DecoyDN string `json:"decoy_dn"`
}

// GroupsConfig is how a user's groups are found: by a search (Base, with
// Filter and NameAttribute), or from an attribute of the user's entry
// (Attribute, such as memberOf).
type GroupsConfig struct {
	Base string `json:"base"`
	// Filter has {dn} (the user's DN) or {username} (the directory's
	// spelling of the login name), escaped for a filter (default
	// (member={dn})).
	Filter        string `json:"filter"`
	Scope         string `json:"scope"`
	NameAttribute string `json:"name_attribute"`
	Attribute     string `json:"attribute"`
}

// Defaults and bounds.
const (
	DefaultUserFilter        = "(uid={username})"
	DefaultGroupFilter       = "(member={dn})"
	DefaultUsernameAttribute = "uid"
	DefaultSubjectAttribute  = "entryUUID"
	DefaultGroupName         = "cn"
	// SubjectDN as subject_attribute makes the entry's DN the subject.
	SubjectDN          = "dn"
	DefaultPoolSize    = 4
	MaxPoolSize        = 64
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 5 * time.Second
	MinTimeout         = 100 * time.Millisecond
	MaxTimeout         = time.Minute
	// MaxRoles is the most distinct roles the host takes from one
	// identity.
	MaxRoles = 64
)

// The placeholders of the templates.
const (
	phUsername = "{username}"
	phDN       = "{dn}"
)

// Settings are a validated configuration, with defaults filled in.
type Settings struct {
	URL string
	// TLS is the configuration of every TLS connection, nil for a plain
	// ldap:// connection to a loopback address.
	TLS      *tls.Config
	StartTLS bool

	// UserDN is set in the bind-as-user mode; UserBase, UserFilter and
	// UserScope in the search-then-bind mode, with the service account.
	UserDN       string
	UserBase     string
	UserFilter   string
	UserScope    int
	DecoyDN      string
	BindDN       string
	BindPassword string

	UsernameAttribute string
	SubjectAttribute  string

	// GroupBase (with GroupFilter, GroupScope and GroupName) or
	// GroupAttribute, or neither.
	GroupBase      string
	GroupFilter    string
	GroupScope     int
	GroupName      string
	GroupAttribute string
	// Roles maps a group to its roles, each list sorted. A group written
	// as a DN (with '=') matches a group's DN, any other a group's name.
	Roles map[string][]string

	PoolSize    int
	DialTimeout time.Duration
	Timeout     time.Duration

	// Warnings are settings that work but are likely mistakes.
	Warnings []string
}

// SearchMode reports whether the settings find users with a search
// rather than bind to a DN made from the login name.
func (s Settings) SearchMode() bool { return s.UserDN == "" }

// String shows no secret, in case a Settings is ever printed.
func (s Settings) String() string {
	return fmt.Sprintf("ldap settings for %s (search mode %v)", s.URL, s.SearchMode())
}

// problems collects configuration problems at their paths.
type problems = configcheck.Problems

// ParseConfig decodes and validates a configuration, filling in defaults,
// and reads the files it names (ca_file, bind_password_file), so that
// `portcullis config check` reports a file that cannot be read. Every
// problem is reported in one *sdk.ConfigError, at its path. No message
// holds the bind password.
func ParseConfig(raw json.RawMessage) (Settings, error) {
	var c Config
	var ps problems
	decoding, err := configcheck.Decode(raw, &c)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{}
	s.connection(c, &ps)
	s.mode(c, &ps)
	s.attributes(c, &ps)
	s.groups(c, &ps)
	s.roles(c, &ps)
	s.PoolSize = DefaultPoolSize
	if c.PoolSize != 0 {
		if c.PoolSize < 1 || c.PoolSize > MaxPoolSize {
			ps.Add("pool_size", "must be from 1 to %d, not %d", MaxPoolSize, c.PoolSize)
		}
		s.PoolSize = c.PoolSize
	}
	s.DialTimeout = duration(&ps, "dial_timeout", c.DialTimeout, DefaultDialTimeout)
	s.Timeout = duration(&ps, "timeout", c.Timeout, DefaultTimeout)
	if err := decoding.With(ps).Err(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// duration parses a duration at path, within the bounds, or returns def.
func duration(ps *problems, path, raw string, def time.Duration) time.Duration {
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < MinTimeout || d > MaxTimeout {
		ps.Add(path, "must be a duration from %s to %s such as 5s, not %q", MinTimeout, MaxTimeout, raw)
		return def
	}
	return d
}

// connection checks the URL and the TLS settings. A password must never
// cross the network in clear: plain ldap:// is refused unless StartTLS
// upgrades it, except to a loopback address, which is warned about.
func (s *Settings) connection(c Config, ps *problems) {
	s.StartTLS = c.StartTLS
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		ps.Add("url", "is required: the directory, as ldaps://host or ldap://host with start_tls: true")
		return
	case err != nil:
		ps.Add("url", "must be an ldaps:// or ldap:// URL; this one cannot be parsed")
		return
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		// The URL is not quoted: whatever it is, it may hold a password.
		ps.Add("url", "must be an ldaps:// or ldap:// URL (this one's scheme is %q)", u.Scheme)
		return
	case u.Host == "" || u.Hostname() == "":
		ps.Add("url", "must name a host: ldaps://host[:port]")
		return
	case u.User != nil:
		ps.Add("url", "must not hold credentials: the service account is bind_dn")
		return
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		ps.Add("url", "must be only ldaps://host[:port]: the search base is user_search.base, not part of the URL")
		return
	}
	if port := u.Port(); port == "" {
		if u.Scheme == "ldaps" {
			u.Host = net.JoinHostPort(u.Hostname(), "636")
		} else {
			u.Host = net.JoinHostPort(u.Hostname(), "389")
		}
	}
	s.URL = u.Scheme + "://" + u.Host
	tlsUsed := u.Scheme == "ldaps" || c.StartTLS
	switch {
	case u.Scheme == "ldaps" && c.StartTLS:
		ps.Add("start_tls", "is for ldap:// URLs: an ldaps:// connection is TLS from the start")
	case !tlsUsed && !loopback(u.Hostname()):
		ps.Add("url", "would send passwords in clear: use ldaps://, or ldap:// with start_tls: true (plain ldap:// is allowed only to a loopback address, for development)")
	case !tlsUsed:
		s.Warnings = append(s.Warnings, fmt.Sprintf("url %s is plain ldap:// without start_tls: passwords cross the connection in clear; for development on this machine only", s.URL))
	}
	if !tlsUsed {
		if c.CAFile != "" {
			ps.Add("ca_file", "is used only with TLS: ldaps://, or start_tls: true")
		}
		if c.TLSServerName != "" {
			ps.Add("tls_server_name", "is used only with TLS: ldaps://, or start_tls: true")
		}
		return
	}
	s.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if c.TLSServerName != "" {
		s.TLS.ServerName = c.TLSServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			ps.Add("ca_file", "cannot be read: %v%s", err, sandboxHint(err))
			return
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			ps.Add("ca_file", "%s holds no PEM certificate", c.CAFile)
			return
		}
		s.TLS.RootCAs = pool
	}
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mode checks that exactly one way of finding the user is configured,
// and the service account of the search mode.
func (s *Settings) mode(c Config, ps *problems) {
	search := c.UserSearch != (UserSearchConfig{})
	switch {
	case c.UserDN != "" && search:
		ps.Add("user_dn", "excludes user_search: bind as the user (user_dn) or search for the user first (user_search), not both")
		return
	case c.UserDN == "" && !search:
		ps.Add("user_dn", "is required, or else user_search: how the user's entry is found must be configured one way")
		return
	case c.UserDN != "":
		s.UserDN = c.UserDN
		checkDNTemplate(ps, "user_dn", c.UserDN)
		for path, v := range map[string]string{"bind_dn": c.BindDN, "bind_password": c.BindPassword, "bind_password_file": c.BindPasswordFile} {
			if v != "" {
				ps.Add(path, "is for user_search: with user_dn the plugin binds only as the user")
			}
		}
		return
	}
	us := c.UserSearch
	s.UserBase = us.Base
	if us.Base == "" {
		ps.Add("user_search.base", "is required: the DN the users are searched under")
	} else {
		checkDN(ps, "user_search.base", us.Base)
	}
	s.UserFilter = us.Filter
	if s.UserFilter == "" {
		s.UserFilter = DefaultUserFilter
	}
	checkFilterTemplate(ps, "user_search.filter", s.UserFilter, phUsername)
	s.UserScope = scope(ps, "user_search.scope", us.Scope)
	s.DecoyDN = us.DecoyDN
	if us.DecoyDN != "" {
		checkDN(ps, "user_search.decoy_dn", us.DecoyDN)
	}
	s.BindDN = c.BindDN
	if c.BindDN == "" {
		ps.Add("bind_dn", "is required with user_search: the service account that searches for users")
	} else {
		checkDN(ps, "bind_dn", c.BindDN)
	}
	s.bindPassword(c, ps)
}

// bindPassword reads the service account's password: from the config,
// where it is written as ${ENV}, or from a file. A trailing newline, which
// most ways of writing a file add, is not part of it. An empty password
// is refused, since a bind with one is no bind at all (RFC 4513 5.1.2).
func (s *Settings) bindPassword(c Config, ps *problems) {
	switch {
	case c.BindPassword != "" && c.BindPasswordFile != "":
		ps.Add("bind_password", "excludes bind_password_file: give the password one way")
	case c.BindPassword != "":
		s.BindPassword = c.BindPassword
	case c.BindPasswordFile != "":
		info, err := os.Stat(c.BindPasswordFile)
		if err != nil {
			ps.Add("bind_password_file", "cannot be read: %v", err)
			return
		}
		data, err := os.ReadFile(c.BindPasswordFile)
		if err != nil {
			ps.Add("bind_password_file", "cannot be read: %v%s", err, sandboxHint(err))
			return
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if pw == "" {
			ps.Add("bind_password_file", "%s is empty: a bind with an empty password is anonymous", c.BindPasswordFile)
			return
		}
		if info.Mode().Perm()&0o077 != 0 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("bind_password_file %s can be read by other users (mode %v): chmod 600 it", c.BindPasswordFile, info.Mode().Perm()))
		}
		s.BindPassword = pw
	default:
		ps.Add("bind_password", "is required with bind_dn (written as ${ENV}), or else bind_password_file")
	}
}

// attributes fills in the names of the username and subject attributes.
func (s *Settings) attributes(c Config, ps *problems) {
	s.UsernameAttribute = orDefault(c.UsernameAttribute, DefaultUsernameAttribute)
	checkAttribute(ps, "username_attribute", s.UsernameAttribute)
	s.SubjectAttribute = orDefault(c.SubjectAttribute, DefaultSubjectAttribute)
	if !strings.EqualFold(s.SubjectAttribute, SubjectDN) {
		checkAttribute(ps, "subject_attribute", s.SubjectAttribute)
	} else {
		s.SubjectAttribute = SubjectDN
		s.Warnings = append(s.Warnings, "subject_attribute dn makes the entry's DN the user's id: a user renamed or moved in the directory becomes another user to the host (and keeps none of the roles given to the old id); entryUUID does not change")
	}
}

// groups checks how groups are found: a search or an attribute, or none.
func (s *Settings) groups(c Config, ps *problems) {
	g := c.Groups
	switch {
	case g == (GroupsConfig{}):
		return
	case g.Attribute != "" && (g.Base != "" || g.Filter != "" || g.Scope != "" || g.NameAttribute != ""):
		ps.Add("groups.attribute", "excludes groups.base, filter, scope and name_attribute: read the groups from the user's entry or search for them, not both")
	case g.Attribute != "":
		checkAttribute(ps, "groups.attribute", g.Attribute)
		s.GroupAttribute = g.Attribute
		s.GroupName = DefaultGroupName
	case g.Base == "":
		ps.Add("groups.base", "is required to search for groups (or set groups.attribute, such as memberOf)")
	default:
		checkDN(ps, "groups.base", g.Base)
		s.GroupBase = g.Base
		s.GroupFilter = orDefault(g.Filter, DefaultGroupFilter)
		if !strings.Contains(s.GroupFilter, phDN) && !strings.Contains(s.GroupFilter, phUsername) {
			ps.Add("groups.filter", "must hold {dn} or {username}: without either, every user would get the same groups")
		} else {
			checkFilterTemplate(ps, "groups.filter", s.GroupFilter, "")
		}
		s.GroupScope = scope(ps, "groups.scope", g.Scope)
		s.GroupName = orDefault(g.NameAttribute, DefaultGroupName)
		checkAttribute(ps, "groups.name_attribute", s.GroupName)
	}
}

// roles checks the group-to-roles map: named groups, roles the host can
// hold, and groups to map from.
func (s *Settings) roles(c Config, ps *problems) {
	if len(c.Roles) == 0 {
		if s.GroupBase != "" || s.GroupAttribute != "" {
			s.Warnings = append(s.Warnings, "groups are looked up but roles maps none of them to a role: every login reads them for nothing")
		}
		return
	}
	if s.GroupBase == "" && s.GroupAttribute == "" && c.Groups == (GroupsConfig{}) {
		ps.Add("roles", "needs groups: say how a user's groups are found (groups.base, or groups.attribute)")
	}
	for _, group := range slices.Sorted(maps.Keys(c.Roles)) {
		if strings.Contains(group, "=") {
			checkDN(ps, "roles."+group, group)
		}
	}
	var all []string
	s.Roles, all = configcheck.Roles(ps, "roles", c.Roles)
	if len(all) > MaxRoles {
		s.Warnings = append(s.Warnings, fmt.Sprintf("roles names %d distinct roles: a user given more than %d cannot log in (the host refuses the answer)", len(all), MaxRoles))
	}
}

// checkDN checks that dn parses as a DN.
func checkDN(ps *problems, path, dn string) {
	if _, err := goldap.ParseDN(dn); err != nil {
		ps.Add(path, "must be a DN such as ou=people,dc=example,dc=org: %v", err)
	}
}

// probe stands for a login name while templates are checked.
const probe = "portcullis-probe"

// checkDNTemplate checks that template is a DN with {username} in an
// attribute value, so that a login name can only ever fill in a value.
func checkDNTemplate(ps *problems, path, template string) {
	if !strings.Contains(template, phUsername) {
		ps.Add(path, "must hold {username}, such as uid={username},ou=people,dc=example,dc=org")
		return
	}
	dn, err := goldap.ParseDN(strings.ReplaceAll(template, phUsername, probe))
	if err != nil {
		ps.Add(path, "must be a DN with {username} in it, such as uid={username},ou=people,dc=example,dc=org: %v", err)
		return
	}
	for _, rdn := range dn.RDNs {
		for _, a := range rdn.Attributes {
			if strings.Contains(a.Value, probe) {
				return
			}
		}
	}
	ps.Add(path, "must have {username} in an attribute's value (uid={username},...), not in an attribute's name")
}

// checkFilterTemplate checks that template compiles as a filter once its
// placeholders are filled in, and holds need if set.
func checkFilterTemplate(ps *problems, path, template, need string) {
	if need != "" && !strings.Contains(template, need) {
		ps.Add(path, "must hold %s, such as (uid=%s)", need, need)
		return
	}
	f := strings.NewReplacer(phUsername, probe, phDN, "cn="+probe).Replace(template)
	if _, err := goldap.CompileFilter(f); err != nil {
		ps.Add(path, "must be an LDAP filter in parentheses, such as (uid={username}): %v", err)
	}
}

// attributeName matches an attribute's name or OID.
var attributeName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)$`)

func checkAttribute(ps *problems, path, name string) {
	if !attributeName.MatchString(name) {
		ps.Add(path, "must be an attribute's name (letters, digits and '-', starting with a letter) or OID, not %q", name)
	}
}

// scope reads a search scope: sub (the default) or one.
func scope(ps *problems, path, raw string) int {
	switch raw {
	case "", "sub":
		return goldap.ScopeWholeSubtree
	case "one":
		return goldap.ScopeSingleLevel
	}
	ps.Add(path, "must be sub or one, not %q", raw)
	return goldap.ScopeWholeSubtree
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// sandboxHint explains a file the plugin may not read: the host confines
// its plugins to the files their entries list (docs/plugins.md).
func sandboxHint(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return " (the host lets a plugin read only the files its backend entry lists in sandbox.read)"
	}
	return ""
}
