package apikey

import (
	"context"

	"github.com/portcullis-auth/portcullis/sdk"
)

// KeyUsed is the arguments of SignalKeyUsed.
type KeyUsed struct {
	Username string `json:"username"`
	// Key is the first 12 hex digits of the key's SHA-256, as in the
	// configuration.
	Key       string `json:"key"`
	RequestID string `json:"request_id"`
}

// LoginEnded implements sdk.OutcomeObserver. A login this backend granted
// comes back with its memo, the key's fingerprint; once such a login has
// succeeded, the backend says which key was used, so that an operator who
// replaces a key sees when the old one is no longer used.
func (b *Backend) LoginEnded(ctx context.Context, o *sdk.Outcome) error {
	if o.Result != sdk.LoginSucceeded || o.Memo == nil {
		return nil
	}
	_, err := b.signals.Emit(ctx, SignalKeyUsed, KeyUsed{
		Username: o.Username, Key: string(o.Memo), RequestID: o.RequestID,
	})
	return err
}
