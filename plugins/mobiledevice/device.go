package mobiledevice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The key types of a device: how it proves it is itself.
const (
	// KeyToken: a token the plugin drew at registration, shown once; the
	// plugin keeps only its SHA-256.
	KeyToken = "token"
	// KeyEd25519: signatures by the device's own Ed25519 key, whose
	// public half the plugin keeps; the server holds no device secret.
	KeyEd25519 = "ed25519"
)

// Storage keys. A device id is of [A-Za-z0-9._-] (validDeviceID), so a
// key's last "/" ends its user id.
const (
	devicePrefix = "device/"
	userPrefix   = "user/"
	noncePrefix  = "nonce/"
)

// casTries bounds the read-decide-swap rounds of one change of a record:
// a round is lost only when another call changed the same device
// meanwhile.
const casTries = 8

// device is one device's record, stored as JSON under device/<id>. It is
// never deleted: a revoked device stays, inactive, so that its id keeps
// its user.
type device struct {
	// view is what the admin commands show of it.
	view
	// TokenHash is the hex SHA-256 of a token device's token; empty for
	// an ed25519 device.
	TokenHash string `json:"token_hash"`
	// PublicKey is an ed25519 device's public key, in standard base64.
	PublicKey string `json:"public_key,omitempty"`
	UserAgent string `json:"user_agent"`
}

// errNotADevice means a stored value is not a device record of this
// plugin.
var errNotADevice = errors.New("mobiledevice: a stored device record is not one this plugin wrote")

// errUnchanged, returned by an update's change, stores nothing and ends
// the update without an error.
var errUnchanged = errors.New("unchanged")

func deviceKey(id string) string              { return devicePrefix + id }
func indexKey(userID, deviceID string) string { return userPrefix + userID + "/" + deviceID }

func (d *device) encode() []byte {
	raw, err := json.Marshal(d)
	if err != nil {
		panic(err) // strings, bools and times always encode
	}
	return raw
}

func decodeDevice(raw []byte) (*device, error) {
	var d device
	if err := json.Unmarshal(raw, &d); err != nil || d.DeviceID == "" || d.UserID == "" ||
		(d.KeyType != KeyToken && d.KeyType != KeyEd25519) {
		return nil, errNotADevice
	}
	return &d, nil
}

// load returns the device and its stored bytes (for a later
// compare-and-swap), or nil, nil, nil if there is none.
func (p *Plugin) load(ctx context.Context, id string) (*device, []byte, error) {
	e, err := p.storage.Get(ctx, deviceKey(id))
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mobiledevice: reading a device: %w", err)
	}
	d, err := decodeDevice(e.Value)
	if err != nil {
		return nil, nil, err
	}
	return d, e.Value, nil
}

// update changes the device id with compare-and-swap: it reads the record
// (nil if there is none), asks change for the next one, and stores it
// only if the record is still the one read, else reads again, so that two
// hosts never lose each other's change. change returns errUnchanged to
// store nothing; its other errors end the update. update returns the
// record stored, or nil if none was.
func (p *Plugin) update(ctx context.Context, id string, change func(old *device) (*device, error)) (*device, error) {
	for range casTries {
		old, oldRaw, err := p.load(ctx, id)
		if err != nil {
			return nil, err
		}
		next, err := change(old)
		if errors.Is(err, errUnchanged) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		swapped, err := p.storage.CompareAndSwap(ctx, deviceKey(id), oldRaw, next.encode(), 0)
		if err != nil {
			return nil, fmt.Errorf("mobiledevice: storing a device: %w", err)
		}
		if swapped {
			return next, nil
		}
	}
	return nil, fmt.Errorf("%w: mobiledevice: the device %s kept changing; try again", sdk.ErrConflict, id)
}

// userDevices returns the user's devices, active or not, through the
// index. An index entry whose device is missing or another user's (left
// by a registration that lost) is skipped: the record is the truth.
func (p *Plugin) userDevices(ctx context.Context, userID string) ([]*device, error) {
	entries, err := p.storage.List(ctx, userPrefix+userID+"/")
	if err != nil {
		return nil, fmt.Errorf("mobiledevice: listing the user's devices: %w", err)
	}
	var out []*device
	for _, e := range entries {
		id := e.Key[strings.LastIndexByte(e.Key, '/')+1:]
		d, _, err := p.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if d != nil && d.UserID == userID && d.DeviceID == id {
			out = append(out, d)
		}
	}
	sortDevices(out)
	return out, nil
}

// allDevices returns every device of every user.
func (p *Plugin) allDevices(ctx context.Context) ([]*device, error) {
	entries, err := p.storage.List(ctx, devicePrefix)
	if err != nil {
		return nil, fmt.Errorf("mobiledevice: listing devices: %w", err)
	}
	out := make([]*device, 0, len(entries))
	for _, e := range entries {
		d, err := decodeDevice(e.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sortDevices(out)
	return out, nil
}

// sortDevices orders devices by creation, then id.
func sortDevices(ds []*device) {
	slices.SortFunc(ds, func(a, b *device) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.DeviceID, b.DeviceID)
	})
}

// view is a device as the admin commands show it: never its token's hash
// or its key.
type view struct {
	DeviceID   string     `json:"device_id"`
	UserID     string     `json:"user_id"`
	Username   string     `json:"username"`
	Name       string     `json:"name"`
	Primary    bool       `json:"primary"`
	Active     bool       `json:"active"`
	KeyType    string     `json:"key_type"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// lastUsedEvery is how often, at most, a device's last use is recorded: a
// write per use would make every proof a write.
const lastUsedEvery = time.Minute

// touch records that d (stored as raw) was just used, if it was not
// within lastUsedEvery: one compare-and-swap against raw, so that it
// never undoes a change made meanwhile (a revocation); lost or failed, it
// is left for the next use. It never fails its caller.
func (p *Plugin) touch(ctx context.Context, d *device, raw []byte) {
	now := p.clock()
	if d.LastUsedAt != nil && now.Sub(*d.LastUsedAt) < lastUsedEvery {
		return
	}
	next := *d
	next.LastUsedAt = &now
	if _, err := p.storage.CompareAndSwap(ctx, deviceKey(d.DeviceID), raw, next.encode(), 0); err != nil {
		p.log.Debug("mobiledevice: a device's last use was not recorded", "device_id", d.DeviceID, "error", err)
	}
}
