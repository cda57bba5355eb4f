package apikey

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// CommandKeySHA256 answers the SHA-256 of the key in the request's Secret,
// as the configuration's keys hold it.
const CommandKeySHA256 = "key_sha256"

// Admin implements sdk.Admin.
func (b *Backend) Admin(_ context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	if req.Command != CommandKeySHA256 {
		return fmt.Errorf("%w: the apikey backend has no command %q", sdk.ErrUnimplemented, req.Command)
	}
	if req.Secret == "" {
		return fmt.Errorf("%w: no key to hash", sdk.ErrInvalidArgument)
	}
	sum := sha256.Sum256([]byte(req.Secret))
	resp.Result, _ = json.Marshal(map[string]string{"sha256": hex.EncodeToString(sum[:])})
	resp.Message = "Add this SHA-256 to the user's keys."
	return nil
}
