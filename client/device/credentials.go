package device

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// Credentials are what a device keeps to authenticate to its host: the
// host's URL, the device's id, and either the token the host issued or
// the device's Ed25519 private key. They are secret: String, GoString and
// LogValue show neither the token nor the key.
type Credentials struct {
	URL        string             // the host's base URL, such as https://auth.example.com
	DeviceID   string             // the id the host knows the device by
	Token      string             // the device's secret token; empty for an Ed25519 device
	PrivateKey ed25519.PrivateKey // the device's key; nil for a token device
}

// KeyType is "ed25519" for a device that signs its requests, else "token".
func (c Credentials) KeyType() string {
	if c.PrivateKey != nil {
		return "ed25519"
	}
	return "token"
}

func (c Credentials) String() string {
	return fmt.Sprintf("device.Credentials{URL: %q, DeviceID: %q, KeyType: %s, secret redacted}", c.URL, c.DeviceID, c.KeyType())
}

// GoString keeps %#v from printing the secret.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps log/slog from logging the secret.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("device_id", c.DeviceID), slog.String("key_type", c.KeyType()))
}

// check reports what makes c unusable, never showing its secret.
func (c Credentials) check() error {
	if _, err := parseHostURL(c.URL); err != nil {
		return err
	}
	if err := checkDeviceID(c.DeviceID); err != nil {
		return err
	}
	switch {
	case c.Token == "" && c.PrivateKey == nil:
		return errors.New("device: the credentials hold neither a token nor a private key")
	case c.Token != "" && c.PrivateKey != nil:
		return errors.New("device: the credentials hold both a token and a private key; a device has one")
	case c.PrivateKey != nil && len(c.PrivateKey) != ed25519.PrivateKeySize:
		return fmt.Errorf("device: the private key is %d bytes, not an Ed25519 key's %d", len(c.PrivateKey), ed25519.PrivateKeySize)
	case c.Token != "" && !headerSafe(c.Token):
		return errors.New("device: the token holds a character a request header cannot carry")
	}
	return nil
}

// credentialsFile is the JSON of a credentials file. The private key is
// its 32-byte seed (RFC 8032's private key), base64url without padding.
type credentialsFile struct {
	URL         string `json:"url"`
	DeviceID    string `json:"device_id"`
	DeviceToken string `json:"device_token,omitempty"`
	PrivateKey  string `json:"private_key,omitempty"`
}

// maxFile bounds a credentials file; a real one is a few hundred bytes.
const maxFile = 64 << 10

// ErrExists is returned by Save when the file exists and overwrite is
// false.
var ErrExists = errors.New("the file exists")

// Save writes c to path as JSON readable by its owner alone (mode 0600).
// The file appears whole or not at all: it is written beside path and
// then moved there. An existing file is replaced only when overwrite is
// true, since it may hold the only copy of another device's secret;
// otherwise Save fails with an error wrapping ErrExists.
func (c Credentials) Save(path string, overwrite bool) (err error) {
	if err := c.check(); err != nil {
		return err
	}
	f := credentialsFile{URL: c.URL, DeviceID: c.DeviceID, DeviceToken: c.Token}
	if c.PrivateKey != nil {
		f.PrivateKey = base64.RawURLEncoding.EncodeToString(c.PrivateKey.Seed())
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	data = append(data, '\n')

	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already when linked and removed, or renamed
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	if overwrite {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = placeNew(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// placeNew moves the file tmp to path unless path exists. A hard link
// refuses an existing path in one step; on a file system without hard
// links, the check and the move are two.
func placeNew(tmp, path string) error {
	err := os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("device: %s: %w; it was not replaced", path, ErrExists)
	}
	if err == nil {
		return nil
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("device: %s: %w; it was not replaced", path, ErrExists)
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return fmt.Errorf("device: saving the credentials: %w", serr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("device: saving the credentials: %w", err)
	}
	return nil
}

// syncDir makes a new name in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Load reads credentials that Save wrote. Like ssh with a private key, it
// refuses a file that its group or other users can read or write (on
// systems with Unix permissions): the secret in it may have been copied
// or replaced.
func Load(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("device: reading the credentials: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Credentials{}, fmt.Errorf("device: reading the credentials: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Credentials{}, fmt.Errorf("device: %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Credentials{}, fmt.Errorf("device: %s holds a device's secret but its group or other users can access it (mode %04o); make it private (chmod 600 %s) if nobody else could have read it, else revoke the device and register it again",
			path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return Credentials{}, fmt.Errorf("device: reading the credentials: %w", err)
	}
	if len(data) > maxFile {
		return Credentials{}, fmt.Errorf("device: %s is over %d bytes: not a credentials file", path, maxFile)
	}
	var cf credentialsFile
	if err := json.Unmarshal(data, &cf); err != nil {
		// Neither kind of json error quotes more than one character.
		return Credentials{}, fmt.Errorf("device: %s is not a credentials file: %w", path, err)
	}
	c := Credentials{URL: cf.URL, DeviceID: cf.DeviceID, Token: cf.DeviceToken}
	if cf.PrivateKey != "" {
		seed, err := base64.RawURLEncoding.DecodeString(cf.PrivateKey)
		if err != nil || len(seed) != ed25519.SeedSize {
			return Credentials{}, fmt.Errorf("device: %s: private_key is not the base64url of a %d-byte Ed25519 seed", path, ed25519.SeedSize)
		}
		c.PrivateKey = ed25519.NewKeyFromSeed(seed)
	}
	if err := c.check(); err != nil {
		return Credentials{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return c, nil
}
