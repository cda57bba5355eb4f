package sdk

import (
	"context"
	"time"
)

// Host is the set of services the host offers a plugin. It is handed to
// Configure and is safe for concurrent use. Each call crosses the process
// boundary: keep them off paths that can do without. (One is spared: a
// backend granted password_hashes:read is sent the user each login names
// with the Authenticate call, and its LookupUser of that username with the
// call's context is answered from it.)
//
// A plugin gets only what it needs (least privilege):
//   - Storage is always the plugin instance's own namespace.
//   - Users answers Authenticators only; LookupUser returns the password
//     hash only to a backend granted "password_hashes:read", ListUsers
//     works only for such a backend, and SetPasswordHash only for one
//     granted "password_hashes:write" (the operator grants them in the
//     backend's `grants:`). Anything else is ErrPermissionDenied.
//   - Signals sends only the signal names the plugin's Metadata.Emits
//     declares, never a signal the host owns, and always with the plugin
//     instance's name as the sender.
type Host interface {
	Users() Users
	Storage() Storage
	Signals() Emitter
}

// User is an account in the host's user table.
type User struct {
	ID       string
	Username string
	// PasswordHash is the stored hash in PHC or Django format, a secret;
	// empty unless the plugin is granted password_hashes:read.
	PasswordHash string
	Disabled     bool
}

// Users looks up and updates accounts in the host's database.
type Users interface {
	// LookupUser returns the user with exactly this username, or
	// ErrNotFound.
	LookupUser(ctx context.Context, username string) (User, error)
	// SetPasswordHash replaces the user's hash with newHash if it is still
	// oldHash, and returns ErrConflict if it changed meanwhile (a concurrent
	// password change wins over a rehash).
	SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error
	// ListUsers returns a page of every user, hashes included, in id order:
	// the users whose id sorts after afterID ("" for the first page), at
	// most limit (> 0) of them; the host may return fewer. The listing ends
	// with an empty page. It is for a backend that must know what every
	// stored hash is (the password backend: which formats and costs exist),
	// and needs the grant password_hashes:read.
	ListUsers(ctx context.Context, afterID string, limit int) ([]User, error)
}

// Entry is one stored value.
type Entry struct {
	Key string
	// Value is never nil for an entry that exists, even an empty one, so
	// that it can be given back to CompareAndSwap as the old value.
	Value []byte
	// ExpiresAt is zero for an entry that never expires. The host keeps
	// it to the millisecond.
	ExpiresAt time.Time
}

// Storage is a key-value store private to one plugin instance and shared by
// every host on the same database. Expired entries are never returned. A ttl
// of zero means no expiry. Keys are 1 to 1024 bytes of UTF-8 without NUL
// (U+0000), a List prefix too but it may be empty; values are at most 1 MiB.
// Anything else is refused with ErrInvalidArgument.
type Storage interface {
	// Get returns the entry or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Put stores value under key, replacing any previous value.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key and reports whether it existed.
	Delete(ctx context.Context, key string) (bool, error)
	// List returns the live entries whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Increment adds delta to the integer counter at key atomically and
	// returns the new value. A missing or expired counter starts at zero; a
	// ttl > 0 (re)sets the expiry. Concurrent increments from any number of
	// hosts add up exactly.
	Increment(ctx context.Context, key string, delta int64, ttl time.Duration) (int64, error)
	// CompareAndSwap stores newValue if the current value equals oldValue
	// (nil oldValue: only if the key is absent) and reports whether it did.
	// A counter's value is its decimal text; swapped to another decimal as
	// Increment writes it ("42", not "042") it stays a counter. Anything
	// else is stored as given.
	CompareAndSwap(ctx context.Context, key string, oldValue, newValue []byte, ttl time.Duration) (bool, error)
}

// Emitter sends signals into the host's signal stream.
type Emitter interface {
	// Emit sends the signal name, one of the plugin's Metadata.Emits, with
	// args (a JSON-encodable struct or map, encoding to an object) and
	// returns its id. The sender is the plugin instance's name. Args must
	// not carry secrets.
	Emit(ctx context.Context, name string, args any) (string, error)
}
