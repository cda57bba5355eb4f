package mobiledevice

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// deviceArgs are the Args of the commands about one device.
type deviceArgs struct {
	DeviceID string `json:"device_id"`
}

// nonceResult is device_nonce's Result.
type nonceResult struct {
	Nonce     string    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
}

// nonce issues a nonce for the device's next signed request. It is issued
// for any well-formed id, so that it tells nobody which devices exist,
// and it stores nothing: checking it needs only the nonce key.
func (p *Plugin) nonce(ctx context.Context, raw []byte) (nonceResult, string, error) {
	var a deviceArgs
	if err := decodeArgs(CommandNonce, raw, &a); err != nil {
		return nonceResult{}, "", err
	}
	if err := checkDeviceID(a.DeviceID); err != nil {
		return nonceResult{}, "", err
	}
	key, err := p.nonceKey(ctx)
	if err != nil {
		return nonceResult{}, "", err
	}
	expires := time.Unix(p.now().Add(p.settings.NonceTTL).Unix(), 0).UTC()
	n, err := issueNonce(key, p.random, a.DeviceID, expires)
	if err != nil {
		return nonceResult{}, "", err
	}
	return nonceResult{Nonce: n, ExpiresAt: expires}, "", nil
}

// listArgs are device_list's Args.
type listArgs struct {
	UserID string `json:"user_id"`
}

// listResult is device_list's Result.
type listResult struct {
	Devices []view `json:"devices"`
}

func (p *Plugin) list(ctx context.Context, raw []byte) (listResult, string, error) {
	var a listArgs
	if err := decodeArgs(CommandList, raw, &a); err != nil {
		return listResult{}, "", err
	}
	var ds []*device
	var err error
	if a.UserID != "" {
		if err := checkUserID(a.UserID); err != nil {
			return listResult{}, "", err
		}
		ds, err = p.userDevices(ctx, a.UserID)
	} else {
		ds, err = p.allDevices(ctx)
	}
	if err != nil {
		return listResult{}, "", err
	}
	out := listResult{Devices: make([]view, len(ds))}
	for i, d := range ds {
		out.Devices[i] = d.view
	}
	return out, fmt.Sprintf("%d devices.", len(ds)), nil
}

func (p *Plugin) get(ctx context.Context, raw []byte) (view, string, error) {
	var a deviceArgs
	if err := decodeArgs(CommandGet, raw, &a); err != nil {
		return view{}, "", err
	}
	if err := checkDeviceID(a.DeviceID); err != nil {
		return view{}, "", err
	}
	d, _, err := p.load(ctx, a.DeviceID)
	if err != nil {
		return view{}, "", err
	}
	if d == nil {
		return view{}, "", fmt.Errorf("%w: no device %s", sdk.ErrNotFound, a.DeviceID)
	}
	return d.view, "", nil
}

// revokeResult is device_revoke's Result.
type revokeResult struct {
	Revoked bool   `json:"revoked"`
	UserID  string `json:"user_id"`
}

// revoke makes a device inactive and not primary. Its record stays, so
// that its id stays its user's and it can be registered again.
func (p *Plugin) revoke(ctx context.Context, raw []byte) (revokeResult, string, error) {
	var a deviceArgs
	if err := decodeArgs(CommandRevoke, raw, &a); err != nil {
		return revokeResult{}, "", err
	}
	if err := checkDeviceID(a.DeviceID); err != nil {
		return revokeResult{}, "", err
	}
	now := p.clock()
	var userID string
	stored, err := p.update(ctx, a.DeviceID, func(old *device) (*device, error) {
		if old == nil {
			return nil, fmt.Errorf("%w: no device %s", sdk.ErrNotFound, a.DeviceID)
		}
		userID = old.UserID
		if !old.Active {
			return nil, errUnchanged
		}
		next := *old
		next.Active, next.Primary, next.RevokedAt = false, false, &now
		return &next, nil
	})
	if err != nil {
		return revokeResult{}, "", err
	}
	if stored == nil {
		return revokeResult{UserID: userID}, "The device was already inactive.", nil
	}
	p.log.Info("mobiledevice: device revoked", "device_id", a.DeviceID, "user_id", userID)
	p.emit(ctx, SignalDeviceRevoked, signals.DeviceRevoked{DeviceID: a.DeviceID, UserID: userID})
	return revokeResult{Revoked: true, UserID: userID}, "Device revoked.", nil
}
