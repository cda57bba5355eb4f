package authreq

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// A device (package mobiledevice, through the host's device endpoints)
// sees the waiting requests of its user that its backend prepared, and
// decides them. The host authenticates the device; this file holds what
// the service does for it.

// ErrOtherUser: the request is another user's (403).
var ErrOtherUser = fmt.Errorf("the authorization request is another user's: %w", sdk.ErrPermissionDenied)

// maxWaiting bounds the requests one poll returns.
const maxWaiting = 50

// Waiting returns the waiting requests of userID that backend prepared,
// oldest first. When there are none it waits up to wait for one to
// arrive, on this host or another sharing the database, and returns as
// soon as one does; the wait costs no query and no busy loop (the store
// wakes it). A request whose time is up is never returned.
func (s *Service) Waiting(ctx context.Context, userID, backend string, wait time.Duration) ([]storage.AuthRequest, error) {
	var wake <-chan struct{}
	if wait > 0 {
		ch, stop := s.opts.Store.WatchAuthRequests(userID)
		defer stop()
		wake = ch
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		rs, err := s.opts.Store.WaitingAuthRequests(ctx, userID, backend, s.opts.Now(), maxWaiting)
		if err != nil || len(rs) > 0 || wait <= 0 {
			return rs, err
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// DeviceDecide grants or denies a waiting request for a device of userID
// that backend keeps: a request another backend prepared is unknown to
// the device (sdk.ErrNotFound), another user's is ErrOtherUser, and one
// that is not waiting ErrNotWaiting. A granted two-factor request is then
// completed by the login that made it (SecondFactor, with its login key).
func (s *Service) DeviceDecide(ctx context.Context, id, userID, backend, to string) (storage.AuthRequest, error) {
	r, err := s.opts.Store.AuthRequestByID(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Backend != backend {
		return storage.AuthRequest{}, fmt.Errorf("authorization request %q: %w", id, sdk.ErrNotFound)
	}
	if r.UserID != userID {
		return storage.AuthRequest{}, ErrOtherUser
	}
	return s.Decide(ctx, id, to, ReasonDevice)
}

// ReasonDevice is the reason of a request a device decided.
const ReasonDevice = "device"

// loginKeyBytes is the size of a two-factor login's key.
const loginKeyBytes = 32

// newLoginKey returns a login key and its hash.
func newLoginKey() (key, hash string) {
	b := make([]byte, loginKeyBytes)
	_, _ = rand.Read(b) // never fails: it crashes the program first
	key = "pcl_" + base64.RawURLEncoding.EncodeToString(b)
	return key, hashLoginKey(key)
}

func hashLoginKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// loginKeyMatches compares in constant time.
func loginKeyMatches(p pendingLogin, key string) bool {
	return p.KeyHash != "" && subtle.ConstantTimeCompare([]byte(hashLoginKey(key)), []byte(p.KeyHash)) == 1
}

// DeviceLoginWaiting reports whether key is the login key of the
// two-factor request id and the request still waits for a device's
// decision: the login's client polls until it does not.
func (s *Service) DeviceLoginWaiting(ctx context.Context, id, key string) (bool, error) {
	r, p, err := s.pending(ctx, id)
	if err != nil || r.ID == "" || !loginKeyMatches(p, key) {
		return false, err
	}
	r, err = s.settle(ctx, r)
	return err == nil && r.State == storage.AuthRequestWaiting, err
}

// completeDeviceLogin completes the login of a two-factor request that a
// device granted, once, for the holder of its login key.
func (s *Service) completeDeviceLogin(ctx context.Context, r storage.AuthRequest, p pendingLogin, key string, resp *sdk.AuthenticateResponse) error {
	if r.State != storage.AuthRequestGranted || r.Reason != ReasonDevice || !loginKeyMatches(p, key) {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	done, err := s.opts.Store.CompleteAuthRequest(ctx, r.ID, s.opts.Now())
	if err != nil {
		return err
	}
	if !done { // completed already, or its time is up
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	resp.Grant(p.identity())
	return nil
}

var errNoLogin = errors.New("the two-factor request holds no login")
