package ldap

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Version is the plugin's version, reported in its metadata.
const Version = "1.0.0"

// Backend is the ldap backend. Create it with New; it is ready after
// Configure.
type Backend struct {
	s   *Settings
	log *slog.Logger
	// decoyDN is bound with the password of a login whose user the
	// search did not find (search mode).
	decoyDN string
	// roles matches groups to roles.
	roles []roleRule
	// service holds connections bound as the service account (search
	// mode only), used for searches and never for a user's bind.
	service *pool
	// binds holds the connections users' binds are made on. Every use of
	// one begins with a bind, which replaces whatever identity the
	// connection had, so a connection left bound as one user is never
	// used as that user by the next login.
	binds *pool
}

// New returns an unconfigured backend.
func New() *Backend { return &Backend{log: sdk.Logger()} }

// Metadata implements sdk.Plugin.
func (b *Backend) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "ldap", Version: Version}
}

// Configure implements sdk.Plugin. It reads the files the configuration
// names but does not connect to the directory: a directory that is down
// when the host starts makes logins fail (or skip the backend), not the
// host.
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		b.log.Warn("ldap configuration: " + w)
	}
	rules, err := roleRules(s.Roles)
	if err != nil {
		return err // unreachable: ParseConfig checked the DNs
	}
	b.decoyDN = s.DecoyDN
	if s.SearchMode() && b.decoyDN == "" {
		// A name nobody chose, under the users' base: binding to it costs
		// the directory a lookup and answers invalid credentials.
		b.decoyDN = "cn=" + goldap.EscapeDN("portcullis-decoy-"+rand.Text()) + "," + s.UserBase
	}
	dial := dialer(&s)
	if s.SearchMode() {
		b.service = newPool(s.PoolSize, func(ctx context.Context) (*conn, error) {
			c, err := dial(ctx)
			if err != nil {
				return nil, err
			}
			stop := context.AfterFunc(ctx, c.close)
			err = c.Bind(s.BindDN, s.BindPassword)
			if !stop() {
				return nil, fmt.Errorf("binding as the service account (bind_dn): %w", ctx.Err())
			}
			if err != nil {
				c.close()
				// go-ldap's error holds the result code and the
				// directory's message, never the password sent.
				return nil, fmt.Errorf("binding as the service account (bind_dn): %w", err)
			}
			return c, nil
		})
	}
	b.binds = newPool(s.PoolSize, dial)
	b.s, b.roles = &s, rules
	return nil
}

// ready refuses a call before Configure.
func (b *Backend) ready() error {
	if b.s == nil {
		return fmt.Errorf("%w: the ldap backend is not configured", sdk.ErrUnavailable)
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Plugin        = (*Backend)(nil)
	_ sdk.Authenticator = (*Backend)(nil)
)
