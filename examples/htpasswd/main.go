// Command portcullis-htpasswd is a Portcullis backend that checks passwords
// against an Apache htpasswd file of bcrypt hashes, read again when it
// changes. It is the first example of docs/plugin-guide.md.
package main

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/passwords"
)

// backend is also its configuration: DecodeConfig fills the exported fields.
type backend struct {
	File     string `json:"file"`
	AllowSHA bool   `json:"allow_sha"` // {SHA} hashes: anyone with the file can reverse them
	users    *passwords.File
}

func (b *backend) Metadata() sdk.Metadata { return sdk.Metadata{Name: "htpasswd", Version: "1.0.0"} }

func (b *backend) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	if err := req.DecodeConfig(b); err != nil {
		return err
	}
	b.users = passwords.NewFile(b.File, b.verify, b.accept, passwords.NewPool(0))
	if err := b.users.Load(ctx); err != nil {
		return &sdk.ConfigError{Problems: []sdk.FieldError{{Path: "file", Message: err.Error()}}}
	}
	return nil
}

func (b *backend) accept(hash string) error {
	if _, err := passwords.BcryptCost(hash); err != nil && !(b.AllowSHA && strings.HasPrefix(hash, "{SHA}")) {
		return errors.New("only bcrypt hashes are read (htpasswd -B); {SHA} ones only with allow_sha: true")
	}
	return nil
}

func (b *backend) verify(hash, password string) (bool, error) {
	if sum, ok := strings.CutPrefix(hash, "{SHA}"); ok {
		want := sha1.Sum([]byte(password))
		return subtle.ConstantTimeCompare([]byte(sum), []byte(base64.StdEncoding.EncodeToString(want[:]))) == 1, nil
	}
	return passwords.VerifyBcrypt(hash, password)
}

func (b *backend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	ok, err := b.users.Check(ctx, req.Username, req.Password)
	if err != nil {
		return fmt.Errorf("%w: %v", sdk.ErrUnavailable, err) // fails closed: the host answers 503
	}
	if !ok {
		resp.Abstain(sdk.ReasonInvalidCredentials) // unknown user or wrong password: the next backend may know them
		return nil
	}
	// Prefixed, so that a subject never names a user of the host's table.
	resp.Grant(sdk.Identity{Subject: "htpasswd:" + req.Username, Username: req.Username})
	return nil
}

func main() { sdk.Serve(&backend{}) }
