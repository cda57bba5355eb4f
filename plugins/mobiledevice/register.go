package mobiledevice

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// registerArgs are device_register's Args.
type registerArgs struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	DeviceID string `json:"device_id"`
	// PublicKey makes an ed25519 device; without it, a token device.
	PublicKey string `json:"public_key"`
	// Primary is true when absent.
	Primary   *bool  `json:"primary"`
	UserAgent string `json:"user_agent"`
}

// registerResult is device_register's Result. DeviceToken is the token
// of a token device, shown this once: the plugin keeps only its hash.
type registerResult struct {
	DeviceID    string `json:"device_id"`
	DeviceToken string `json:"device_token,omitempty"`
	Primary     bool   `json:"primary"`
	Reactivated bool   `json:"reactivated"`
	KeyType     string `json:"key_type"`
}

// errOtherUser: the device id is another user's.
var errOtherUser = fmt.Errorf("%w: the device id is another user's device", sdk.ErrConflict)

// errRegistered: the device id is an active device of the user.
var errRegistered = fmt.Errorf("%w: device already registered", sdk.ErrConflict)

// register is django-auth-token's activate_or_create: a new device id
// makes a device; an inactive device of the same user comes back with a
// new token (or the new key); an active one, or another user's, is a
// conflict. A new primary device makes the user's others not primary.
func (p *Plugin) register(ctx context.Context, raw []byte) (registerResult, string, error) {
	var a registerArgs
	if err := decodeArgs(CommandRegister, raw, &a); err != nil {
		return registerResult{}, "", err
	}
	if err := a.check(); err != nil {
		return registerResult{}, "", err
	}
	fresh := device{view: view{
		DeviceID: a.DeviceID, UserID: a.UserID, Username: a.Username, Name: a.Name,
		Primary: a.Primary == nil || *a.Primary, Active: true, KeyType: KeyToken,
	}, UserAgent: truncateText(a.UserAgent, maxUserAgent)}
	var token string
	if a.PublicKey != "" {
		key, err := parsePublicKey(a.PublicKey)
		if err != nil {
			return registerResult{}, "", invalid("%v", err)
		}
		fresh.KeyType, fresh.PublicKey = KeyEd25519, encodeKey(key)
	} else {
		var err error
		if token, err = newToken(p.random); err != nil {
			return registerResult{}, "", err
		}
		fresh.TokenHash = hashToken(token)
	}

	// The index entry goes first: a registration cut short leaves at
	// worst an entry without its device, which readers skip, never a
	// device its user's listing misses.
	if err := p.storage.Put(ctx, indexKey(a.UserID, a.DeviceID), []byte{}, 0); err != nil {
		return registerResult{}, "", fmt.Errorf("mobiledevice: storing the user's device index: %w", err)
	}
	now := p.clock()
	reactivated := false
	_, err := p.update(ctx, a.DeviceID, func(old *device) (*device, error) {
		next := fresh
		reactivated = old != nil
		switch {
		case old == nil:
			next.CreatedAt = now
		case old.UserID != a.UserID:
			return nil, errOtherUser
		case old.Active:
			return nil, errRegistered
		default:
			next.CreatedAt = old.CreatedAt
		}
		return &next, nil
	})
	if errors.Is(err, errOtherUser) {
		// The entry just made indexes another user's device: remove it.
		if _, derr := p.storage.Delete(ctx, indexKey(a.UserID, a.DeviceID)); derr != nil {
			p.log.Debug("mobiledevice: a stray index entry was not removed", "user_id", a.UserID, "device_id", a.DeviceID, "error", derr)
		}
	}
	if err != nil {
		return registerResult{}, "", err
	}
	// From here on the device is stored and its token exists nowhere
	// else: nothing may fail the command any more.
	if fresh.Primary {
		p.demoteOthers(ctx, a.UserID, a.DeviceID)
	}
	p.log.Info("mobiledevice: device registered", "device_id", a.DeviceID, "user_id", a.UserID, "key_type", fresh.KeyType, "reactivated", reactivated)
	p.emit(ctx, SignalDeviceRegistered, signals.DeviceRegistered{
		DeviceID: a.DeviceID, UserID: a.UserID, Name: fresh.Name, Primary: fresh.Primary,
		Reactivated: reactivated, KeyType: fresh.KeyType,
	})
	msg := "Device registered."
	if reactivated {
		msg = "Device reactivated."
	}
	if token != "" {
		msg += " Its token is shown this once."
	}
	return registerResult{DeviceID: a.DeviceID, DeviceToken: token, Primary: fresh.Primary, Reactivated: reactivated, KeyType: fresh.KeyType}, msg, nil
}

// check validates the arguments and fills in the defaults: a new device
// id, the default name.
func (a *registerArgs) check() error {
	if err := checkUserID(a.UserID); err != nil {
		return err
	}
	switch {
	case a.Username == "":
		return invalid("username is required")
	case len(a.Username) > maxUsername || !plainText(a.Username):
		return invalid("username must be at most %d bytes of text without control characters", maxUsername)
	}
	if a.DeviceID == "" {
		a.DeviceID = uuid.NewString()
	} else if err := checkDeviceID(a.DeviceID); err != nil {
		return err
	}
	if a.Name == "" {
		a.Name = defaultName
	}
	if !plainText(a.Name) || utf8.RuneCountInString(a.Name) > maxName {
		return invalid("name must be 1 to %d characters of text without control characters", maxName)
	}
	return nil
}

// demoteOthers makes the user's devices other than keep not primary, each
// with compare-and-swap. The new primary is stored already: a device
// that could not be demoted is logged, and stays primary until the next
// registration or its revocation.
func (p *Plugin) demoteOthers(ctx context.Context, userID, keep string) {
	others, err := p.userDevices(ctx, userID)
	if err != nil {
		p.log.Warn("mobiledevice: the user's other devices could not be read to make them not primary", "user_id", userID, "error", err)
		return
	}
	for _, d := range others {
		if d.DeviceID == keep || !d.Primary {
			continue
		}
		_, err := p.update(ctx, d.DeviceID, func(old *device) (*device, error) {
			if old == nil || old.UserID != userID || !old.Primary {
				return nil, errUnchanged
			}
			next := *old
			next.Primary = false
			return &next, nil
		})
		if err != nil {
			p.log.Warn("mobiledevice: a device could not be made not primary", "user_id", userID, "device_id", d.DeviceID, "error", err)
		}
	}
}
