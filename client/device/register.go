package device

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// AppKeyPrefix starts every app key; a bearer credential without it is a
// user's access token.
const AppKeyPrefix = "pck_"

// Registration describes the device to register.
type Registration struct {
	// User is the username of the device's user. Required with an app
	// key; with an access token it may be empty, and if given it must be
	// the token's user.
	User string
	// Name is what the user calls the device ("Alice's phone"). Required.
	Name string
	// DeviceID is the id to register the device under; empty lets the
	// host choose. Registering a revoked device's id again reactivates it.
	DeviceID string
	// Primary makes the device its user's primary one; nil leaves the
	// host's default (true).
	Primary *bool
	// Ed25519 makes Register generate a key pair and register the public
	// key: the device then signs its requests and holds no token.
	Ed25519 bool
}

// Register registers a device with the host at hostURL (POST /v1/devices)
// and returns its credentials, to be kept with Credentials.Save. bearer is
// an app key (AppKeyPrefix) or the user's access token. hc may be nil.
//
// A refusal is an *Error: 401 for a bearer credential the host does not
// accept, 404 when the host does not serve devices, 409 (CodeDeviceExists)
// for a DeviceID that is taken.
func Register(ctx context.Context, hc *http.Client, hostURL, bearer string, in Registration) (Credentials, error) {
	base, err := parseHostURL(hostURL)
	if err != nil {
		return Credentials{}, err
	}
	switch {
	case bearer == "":
		return Credentials{}, errors.New("device: registering needs an app key or the user's access token")
	case !headerSafe(bearer):
		return Credentials{}, errors.New("device: the app key or access token holds a space or a character a request header cannot carry")
	case strings.HasPrefix(bearer, AppKeyPrefix) && in.User == "":
		return Credentials{}, errors.New("device: registering with an app key needs the user's name (Registration.User)")
	case strings.TrimSpace(in.Name) == "":
		return Credentials{}, errors.New("device: the device's name (Registration.Name) is required")
	}
	if in.DeviceID != "" {
		if err := checkDeviceID(in.DeviceID); err != nil {
			return Credentials{}, err
		}
	}

	body := struct {
		User      string `json:"user,omitempty"`
		Name      string `json:"name"`
		DeviceID  string `json:"device_id,omitempty"`
		PublicKey string `json:"public_key,omitempty"`
		Primary   *bool  `json:"primary,omitempty"`
	}{User: in.User, Name: in.Name, DeviceID: in.DeviceID, Primary: in.Primary}
	var priv ed25519.PrivateKey
	if in.Ed25519 {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return Credentials{}, fmt.Errorf("device: making the key pair: %w", err)
		}
		priv = key
		body.PublicKey = base64.RawURLEncoding.EncodeToString(pub)
	}

	var out struct {
		DeviceID    string `json:"device_id"`
		DeviceToken string `json:"device_token"`
		KeyType     string `json:"key_type"`
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	err = do(ctx, httpClient(hc), base, call{
		method: http.MethodPost, path: "/v1/devices", body: body, want: http.StatusCreated, out: &out,
		auth: func(req *http.Request, _ []byte) error {
			req.Header.Set("Authorization", "Bearer "+bearer)
			return nil
		},
	})
	if err != nil {
		return Credentials{}, err
	}

	if err := checkDeviceID(out.DeviceID); err != nil {
		return Credentials{}, fmt.Errorf("device: the host registered a device whose id cannot be used: %w", err)
	}
	c := Credentials{URL: base, DeviceID: out.DeviceID, Token: out.DeviceToken, PrivateKey: priv}
	switch {
	case in.Ed25519 && (out.KeyType != "ed25519" || out.DeviceToken != ""):
		return Credentials{}, fmt.Errorf("device: the host registered device %s as a %q device, not the Ed25519 one asked for", out.DeviceID, out.KeyType)
	case !in.Ed25519 && (out.KeyType != "token" || out.DeviceToken == ""):
		return Credentials{}, fmt.Errorf("device: the host registered device %s (key type %q) without issuing a token", out.DeviceID, out.KeyType)
	}
	if err := c.check(); err != nil {
		return Credentials{}, fmt.Errorf("device: the host's answer for device %s cannot be used: %w", out.DeviceID, err)
	}
	return c, nil
}
