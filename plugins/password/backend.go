package password

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/configcheck"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/passwords"
)

// Version is the backend's version, reported in its metadata.
const Version = "1.0.0"

// Config is the backend's `config:` section.
type Config struct {
	// Argon2id sets the cost of new hashes (default: DefaultArgon2Params).
	Argon2id Argon2Params `json:"argon2id"`
	// MaxConcurrentHashes bounds the hashes computed at once, and so the
	// memory argon2id takes under a burst (default: one per CPU; more at
	// once only evict each other's memory from the caches: with two per
	// CPU a 2-CPU host logged in a quarter fewer users per second).
	MaxConcurrentHashes int `json:"max_concurrent_hashes"`
}

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	problems, err := configcheck.Decode(raw, &c)
	if err != nil {
		return c, err
	}
	if c.Argon2id.MemoryKiB == 0 {
		c.Argon2id.MemoryKiB = DefaultArgon2Params.MemoryKiB
	}
	if c.Argon2id.Iterations == 0 {
		c.Argon2id.Iterations = DefaultArgon2Params.Iterations
	}
	if c.Argon2id.Parallelism == 0 {
		c.Argon2id.Parallelism = DefaultArgon2Params.Parallelism
	}
	if c.MaxConcurrentHashes == 0 {
		c.MaxConcurrentHashes = runtime.NumCPU()
	}
	for _, p := range c.Argon2id.problems() {
		problems.Add("argon2id."+p.Path, "%s", p.Message)
	}
	if c.MaxConcurrentHashes < 1 {
		problems.Add("max_concurrent_hashes", "must be > 0")
	}
	return c, problems.Err()
}

// Backend is the password Authenticator. Create it with New; it is ready
// after Configure.
type Backend struct {
	cfg   Config
	users sdk.Users
	log   *slog.Logger
	// pool bounds concurrent hashing: every verification, every new hash
	// (a rehash after a legacy login, an admin hash_password), every
	// measurement.
	pool *passwords.Pool
	// floor is the time every attempt takes at least (timing.go);
	// preparing lets one caller at a time learn it.
	floor     floor
	preparing chan struct{}
	clock     clock
	// verifyHash and newHash are Verify and Hash, and pick draws a random
	// index below n; tests replace them.
	verifyHash func(stored, password string) (bool, error)
	newHash    func(password string, p Argon2Params) (string, error)
	pick       func(n int) int
}

// New returns an unconfigured backend.
func New() *Backend {
	return &Backend{
		log:        sdk.Logger(),
		preparing:  make(chan struct{}, 1),
		clock:      wallClock{},
		verifyHash: Verify,
		newHash:    Hash,
		pick:       rand.IntN,
	}
}

// Metadata implements sdk.Plugin.
func (b *Backend) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "password", Version: Version}
}

// prepareTimeout bounds learning the stored hash kinds when the backend
// starts: a page through every user, and a few verifications of each
// family's most costly kind.
const prepareTimeout = 5 * time.Minute

// Configure implements sdk.Plugin. It starts learning the kinds of hash
// stored in the background; a login waits for it (see timing.go).
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	b.cfg, b.users = cfg, req.Host.Users()
	b.pool = passwords.NewPool(cfg.MaxConcurrentHashes)
	// The backend has its process to itself, as every plugin does; the
	// process's collector is sized for the hashes it runs (gc.go).
	tuneGC(cfg.MaxConcurrentHashes)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
		defer cancel()
		if err := b.prepare(ctx); err != nil {
			b.log.Warn("learning the kinds of password hash stored; the next login tries again", "error", err)
		}
	}()
	return nil
}

// Authenticate implements sdk.Authenticator.
func (b *Backend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if b.users == nil {
		return fmt.Errorf("%w: password backend is not configured", sdk.ErrUnavailable)
	}
	if err := b.prepare(ctx); err != nil {
		return fmt.Errorf("%w: learning the kinds of password hash stored: %v", sdk.ErrUnavailable, err)
	}
	user, err := b.users.LookupUser(ctx, req.Username)
	known := err == nil
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("looking up user: %w", err)
	}
	kind := KindOf(user.PasswordHash)
	if known && kind.Format == FormatUnknown {
		b.log.Warn("stored password hash is in an unknown format; login refused", "user_id", user.ID)
	}
	usable := known && kind.Format != FormatNone && kind.Format != FormatUnknown
	ok, err := b.attempt(ctx, usable, user.PasswordHash, kind, req.Password)
	if err != nil {
		return err
	}
	// A disabled account answers exactly as a wrong password does, after
	// the same work: an answer of its own for the right password would
	// tell an attacker the password (Django's ModelBackend does the same).
	if !usable || !ok || user.Disabled {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	if NeedsRehash(user.PasswordHash, b.cfg.Argon2id) {
		b.rehash(ctx, user, req.Password)
	}
	resp.Grant(sdk.Identity{Subject: user.ID, Username: user.Username})
	return nil
}

// inSlot runs f holding one of b's hashing slots.
func inSlot[T any](ctx context.Context, b *Backend, f func() (T, error)) (T, error) {
	var out T
	var err error
	if perr := b.pool.Do(ctx, func() { out, err = f() }); perr != nil {
		var zero T
		return zero, perr
	}
	return out, err
}

// verify checks password against stored in a hashing slot, and returns
// how long the check took (not counting the wait for the slot). A hash in
// no format this backend reads never matches.
func (b *Backend) verify(ctx context.Context, stored, password string) (bool, time.Duration, error) {
	type result struct {
		ok   bool
		took time.Duration
	}
	r, err := inSlot(ctx, b, func() (result, error) {
		start := b.clock.Now()
		ok, err := b.verifyHash(stored, password)
		return result{ok, b.clock.Now().Sub(start)}, err
	})
	if errors.Is(err, ErrUnknownFormat) {
		b.log.Warn("stored password hash is in an unknown format; login refused")
		return false, r.took, nil
	}
	return r.ok, r.took, err
}

// hash makes a new hash of password with the configured parameters, in a
// hashing slot.
func (b *Backend) hash(ctx context.Context, password string) (string, error) {
	return inSlot(ctx, b, func() (string, error) { return b.newHash(password, b.cfg.Argon2id) })
}

// rehash replaces a legacy hash with argon2id, in a hashing slot like any
// other hash. A failure is logged and does not fail the login that proved
// the password.
func (b *Backend) rehash(ctx context.Context, user sdk.User, password string) {
	fresh, err := b.hash(ctx, password)
	if err == nil {
		err = b.users.SetPasswordHash(ctx, user.ID, user.PasswordHash, fresh)
	}
	if err != nil && !errors.Is(err, sdk.ErrConflict) {
		b.log.Warn("could not upgrade password hash", "user_id", user.ID, "error", err)
	}
}

// The admin commands (sdk.Admin) the backend answers.
const (
	// CommandHashPassword hashes the request's Secret with the backend's
	// configured parameters; its result is {"hash": "<PHC string>"}. The
	// host's command line stores the hash, so the password never reaches
	// the host's database in any other form.
	CommandHashPassword = "hash_password"
	// CommandRehashReport reports how many stored hashes there are of each
	// kind, which users have one to replace, and the kind every login is
	// made to cost; its result is a RehashReport. It holds no hash.
	CommandRehashReport = "rehash_report"
)

// Admin implements sdk.Admin.
func (b *Backend) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	if b.pool == nil {
		return fmt.Errorf("%w: password backend is not configured", sdk.ErrUnavailable)
	}
	switch req.Command {
	case CommandHashPassword:
		if req.Secret == "" {
			return fmt.Errorf("%w: no password to hash", sdk.ErrInvalidArgument)
		}
		hash, err := b.hash(ctx, req.Secret)
		if err != nil {
			return err
		}
		resp.Result, _ = json.Marshal(map[string]string{"hash": hash})
		resp.Message = "Password hashed."
		return nil
	case CommandRehashReport:
		report, err := b.rehashReport(ctx)
		if err != nil {
			return err
		}
		resp.Result, err = json.Marshal(report)
		resp.Message = report.summary()
		return err
	}
	return fmt.Errorf("%w: the password backend has no command %q", sdk.ErrUnimplemented, req.Command)
}

// Interface guards.
var (
	_ sdk.Plugin        = (*Backend)(nil)
	_ sdk.Authenticator = (*Backend)(nil)
	_ sdk.Admin         = (*Backend)(nil)
)
