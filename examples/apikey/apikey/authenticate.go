package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Authenticate implements sdk.Authenticator.
func (b *Backend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	key := req.Credentials["api_key"]
	if key == "" {
		resp.Abstain("") // not an API-key login: ask the next backend
		return nil
	}
	sum := sha256.Sum256([]byte(key))
	got := hex.EncodeToString(sum[:])
	matched := ""
	for _, want := range b.cfg.Keys[req.Username] {
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			matched = want
		}
	}
	if matched == "" {
		resp.Abstain(sdk.ReasonInvalidCredentials) // a wrong key is a result, not an error
		return nil
	}
	if slices.Contains(b.cfg.Revoked, req.Username) {
		b.log.Info("revoked API key used", "username", req.Username, "request_id", req.RequestID)
		resp.Deny("key_revoked", 0)
		return nil
	}
	user, err := b.users.LookupUser(ctx, req.Username)
	switch {
	case errors.Is(err, sdk.ErrNotFound), err == nil && user.Disabled:
		resp.Abstain(sdk.ReasonInvalidCredentials) // as for a wrong key
		return nil
	case err != nil:
		return fmt.Errorf("looking up %q: %w", req.Username, err) // could not decide
	}
	resp.Grant(sdk.Identity{
		Subject:    user.ID,
		Username:   user.Username,
		Attributes: map[string]string{"amr": "api_key"},
	})
	resp.Memo = []byte(matched[:12]) // which key: handed back with the outcome
	return nil
}
