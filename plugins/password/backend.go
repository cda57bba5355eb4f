package password

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Version is the backend's version, reported in its metadata.
const Version = "1.0.0"

// Config is the backend's `config:` section.
type Config struct {
	// Argon2id sets the cost of new hashes (default: DefaultArgon2Params).
	Argon2id Argon2Params `json:"argon2id"`
	// MaxConcurrentHashes bounds the hashes computed at once, and so the
	// memory argon2id takes under a burst (default: 2 × CPUs).
	MaxConcurrentHashes int `json:"max_concurrent_hashes"`
}

// ParseConfig decodes and validates a configuration, filling in defaults.
// Every problem is reported in one *sdk.ConfigError.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	var problems []sdk.FieldError
	var decodeErr *sdk.ConfigError
	if err := (&sdk.ConfigureRequest{Config: raw}).DecodeConfig(&c); errors.As(err, &decodeErr) {
		problems = append(problems, decodeErr.Problems...)
		_ = json.Unmarshal(raw, &c) // read what can be read, to check the rest too
	} else if err != nil {
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
		c.MaxConcurrentHashes = 2 * runtime.NumCPU()
	}
	for _, p := range c.Argon2id.problems() {
		problems = append(problems, sdk.FieldError{Path: "argon2id." + p.Path, Message: p.Message})
	}
	if c.MaxConcurrentHashes < 1 {
		problems = append(problems, sdk.FieldError{Path: "max_concurrent_hashes", Message: "must be > 0"})
	}
	if len(problems) > 0 {
		return c, &sdk.ConfigError{Problems: problems}
	}
	return c, nil
}

// Backend is the password Authenticator. Create it with New; it is ready
// after Configure.
type Backend struct {
	cfg   Config
	users sdk.Users
	log   *slog.Logger
	// slots bounds concurrent hashing.
	slots chan struct{}
	// dummy is verified against for unknown users so they cost the same as
	// known ones.
	dummy string
}

// New returns an unconfigured backend.
func New() *Backend { return &Backend{log: sdk.Logger()} }

// Metadata implements sdk.Plugin.
func (b *Backend) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "password", Version: Version}
}

// Configure implements sdk.Plugin.
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	dummy, err := Hash(rand.Text(), cfg.Argon2id)
	if err != nil {
		return err
	}
	b.cfg, b.users, b.dummy = cfg, req.Host.Users(), dummy
	b.slots = make(chan struct{}, cfg.MaxConcurrentHashes)
	return nil
}

// Authenticate implements sdk.Authenticator.
func (b *Backend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if b.users == nil {
		return fmt.Errorf("%w: password backend is not configured", sdk.ErrUnavailable)
	}
	user, err := b.users.LookupUser(ctx, req.Username)
	known := err == nil
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("looking up user: %w", err)
	}
	stored := user.PasswordHash
	if !known || stored == "" {
		stored = b.dummy
	}
	ok, err := b.verify(ctx, stored, req.Password)
	if err != nil {
		return err
	}
	// A disabled account answers exactly as a wrong password does, after
	// the same work: an answer of its own for the right password would
	// tell an attacker the password (Django's ModelBackend does the same).
	if !known || !ok || user.PasswordHash == "" || user.Disabled {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	if NeedsRehash(user.PasswordHash, b.cfg.Argon2id) {
		b.rehash(ctx, user, req.Password)
	}
	resp.Grant(sdk.Identity{Subject: user.ID, Username: user.Username})
	return nil
}

// verify checks password against stored while holding a hashing slot.
func (b *Backend) verify(ctx context.Context, stored, password string) (bool, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-b.slots }()
	ok, err := Verify(stored, password)
	if errors.Is(err, ErrUnknownFormat) {
		// A hash this backend cannot read never matches; say so to operators.
		b.log.Warn("stored password hash is in an unknown format; login refused")
		return false, nil
	}
	return ok, err
}

// rehash replaces a legacy hash with argon2id. A failure is logged and does
// not fail the login that proved the password.
func (b *Backend) rehash(ctx context.Context, user sdk.User, password string) {
	fresh, err := Hash(password, b.cfg.Argon2id)
	if err == nil {
		err = b.users.SetPasswordHash(ctx, user.ID, user.PasswordHash, fresh)
	}
	if err != nil && !errors.Is(err, sdk.ErrConflict) {
		b.log.Warn("could not upgrade password hash", "user_id", user.ID, "error", err)
	}
}

// CommandHashPassword is the admin command that hashes the request's
// Secret with the backend's configured parameters; its result is
// {"hash": "<PHC string>"}. The host's command line stores the hash, so
// the password never reaches the host's database in any other form.
const CommandHashPassword = "hash_password"

// Admin implements sdk.Admin.
func (b *Backend) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	if req.Command != CommandHashPassword {
		return fmt.Errorf("%w: the password backend has no command %q", sdk.ErrUnimplemented, req.Command)
	}
	if req.Secret == "" {
		return fmt.Errorf("%w: no password to hash", sdk.ErrInvalidArgument)
	}
	if b.slots == nil {
		return fmt.Errorf("%w: password backend is not configured", sdk.ErrUnavailable)
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.slots }()
	hash, err := Hash(req.Secret, b.cfg.Argon2id)
	if err != nil {
		return err
	}
	resp.Result, _ = json.Marshal(map[string]string{"hash": hash})
	resp.Message = "Password hashed."
	return nil
}

// Interface guards.
var (
	_ sdk.Plugin        = (*Backend)(nil)
	_ sdk.Authenticator = (*Backend)(nil)
	_ sdk.Admin         = (*Backend)(nil)
)
