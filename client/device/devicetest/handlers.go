package devicetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
)

const (
	stateWaiting = "waiting"
	stateGranted = "granted"
	stateDenied  = "denied"
)

// decodeStrict decodes body into v, refusing unknown members.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// register is POST /v1/devices.
func (h *Host) register(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled {
		writeError(w, http.StatusNotFound, "not_found", "devices are not enabled on this host", nil)
		return
	}
	var in struct {
		User      string `json:"user"`
		Name      string `json:"name"`
		DeviceID  string `json:"device_id"`
		PublicKey string `json:"public_key"`
		Primary   *bool  `json:"primary"`
	}
	if r.Header.Get("Content-Type") != "application/json" {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be application/json", nil)
		return
	}
	if err := decodeStrict(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a registration: "+err.Error(), nil)
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		h.refuse(w, "invalid_client", "register: no bearer credential")
		return
	}
	var userID string
	if strings.HasPrefix(bearer, "pck_") {
		if !h.appKeys[bearer] {
			h.refuse(w, "invalid_client", "register: unknown app key")
			return
		}
		if in.User == "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "user is required with an app key", nil)
			return
		}
		if userID, ok = h.users[in.User]; !ok {
			writeError(w, http.StatusBadRequest, "invalid_request", "no user "+strconv.Quote(in.User), nil)
			return
		}
	} else {
		if userID, ok = h.accessTokens[bearer]; !ok {
			h.refuse(w, "invalid_token", "register: unknown access token")
			return
		}
		if in.User != "" && h.users[in.User] != userID {
			writeError(w, http.StatusForbidden, "forbidden", "a user registers devices for themself only", nil)
			return
		}
	}
	if strings.TrimSpace(in.Name) == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "name is required", nil)
		return
	}
	d := &Device{ID: in.DeviceID, UserID: userID, Name: in.Name, Primary: in.Primary == nil || *in.Primary, Active: true}
	if in.PublicKey != "" {
		pub, err := base64.RawURLEncoding.DecodeString(in.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			writeError(w, http.StatusBadRequest, "invalid_request", "public_key is not the base64url of a 32-byte Ed25519 public key", nil)
			return
		}
		d.PublicKey = pub
	} else {
		d.Token = random(32)
	}
	reactivated := false
	if d.ID == "" {
		d.ID = "dev-" + random(8)
	} else if old, ok := h.devices[d.ID]; ok {
		if old.Active || old.UserID != userID {
			writeError(w, http.StatusConflict, "device_exists", "a device "+strconv.Quote(d.ID)+" exists", nil)
			return
		}
		reactivated = true
	}
	h.devices[d.ID] = d
	out := map[string]any{"device_id": d.ID, "primary": d.Primary, "reactivated": reactivated, "key_type": "token"}
	if d.PublicKey != nil {
		out["key_type"] = "ed25519"
	} else {
		out["device_token"] = d.Token
	}
	writeJSON(w, http.StatusCreated, out)
}

// nonce is POST /v1/device/nonce.
func (h *Host) nonce(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var in struct {
		DeviceID string `json:"device_id"`
	}
	if err := decodeStrict(body, &in); err != nil || in.DeviceID == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body must be {\"device_id\"}", nil)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := random(16)
	exp := time.Now().Add(NonceLifetime)
	h.nonces[n] = issuedNonce{deviceID: in.DeviceID, expires: exp}
	h.noncesIssued++
	writeJSON(w, http.StatusOK, map[string]any{"nonce": n, "expires_at": exp.UTC().Format(time.RFC3339)})
}

// refuse answers 401, noting why. h.mu is held.
func (h *Host) refuse(w http.ResponseWriter, code, why string) {
	h.refusals = append(h.refusals, why)
	writeError(w, http.StatusUnauthorized, code, "the credentials were refused", nil)
}

// authenticate returns the device that made r, whose body is body, or
// answers 401 and returns nil. h.mu is held.
func (h *Host) authenticate(w http.ResponseWriter, r *http.Request, body []byte) *Device {
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "Basic "):
		id, token, ok := r.BasicAuth()
		d := h.devices[id]
		switch {
		case !ok:
			h.refuse(w, "invalid_device", "basic: malformed")
		case d == nil:
			h.refuse(w, "invalid_device", "basic: unknown device "+id)
		case d.Token == "":
			h.refuse(w, "invalid_device", "basic: device "+id+" has no token")
		case subtle.ConstantTimeCompare([]byte(token), []byte(d.Token)) != 1:
			h.refuse(w, "invalid_device", "basic: wrong token for "+id)
		case !d.Active:
			h.refuse(w, "invalid_device", "basic: device "+id+" is revoked")
		default:
			return d
		}
		return nil
	case strings.HasPrefix(auth, devicesig.Scheme+" "):
		id, nonce, sig, err := devicesig.Parse(auth)
		if err != nil {
			h.refuse(w, "invalid_device", "signed: "+err.Error())
			return nil
		}
		n, issued := h.nonces[nonce]
		delete(h.nonces, nonce) // good for one request, whatever becomes of it
		d := h.devices[id]
		target := r.URL.RequestURI()
		switch {
		case !issued:
			h.refuse(w, "invalid_device", "signed: unknown or used nonce")
		case n.deviceID != id:
			h.refuse(w, "invalid_device", "signed: the nonce was issued to another device")
		case time.Now().After(n.expires):
			h.refuse(w, "invalid_device", "signed: the nonce expired")
		case d == nil:
			h.refuse(w, "invalid_device", "signed: unknown device "+id)
		case d.PublicKey == nil:
			h.refuse(w, "invalid_device", "signed: device "+id+" has no public key")
		case !ed25519.Verify(d.PublicKey, devicesig.Message(r.Method, target, devicesig.BodyHash(body), nonce), sig):
			h.refuse(w, "invalid_device", "signed: bad signature over "+r.Method+" "+target)
		case !d.Active:
			h.refuse(w, "invalid_device", "signed: device "+id+" is revoked")
		default:
			h.signed++
			return d
		}
		return nil
	}
	h.refuse(w, "invalid_device", "no device credentials")
	return nil
}

// pending is GET /v1/device/authorization-requests?wait=N.
func (h *Host) pending(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.mu.Lock()
	if h.disabled {
		h.mu.Unlock()
		writeError(w, http.StatusNotFound, "not_found", "devices are not enabled on this host", nil)
		return
	}
	d := h.authenticate(w, r, body)
	h.mu.Unlock()
	if d == nil {
		return
	}
	wait := 0
	if s := r.URL.Query().Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 60 {
			writeError(w, http.StatusBadRequest, "invalid_request", "wait must be a number of seconds from 0 to 60", nil)
			return
		}
		wait = n
	}
	deadline := time.NewTimer(time.Duration(wait) * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		list := []map[string]any{}
		for _, ar := range h.requests {
			if ar.UserID == d.UserID && ar.State == stateWaiting && time.Now().Before(ar.ExpiresAt) {
				list = append(list, view(ar))
			}
		}
		changed := h.changed
		h.mu.Unlock()
		if len(list) > 0 {
			writeJSON(w, http.StatusOK, map[string]any{"authorization_requests": list})
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			writeJSON(w, http.StatusOK, map[string]any{"authorization_requests": list})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// decide is POST /v1/device/authorization-requests/{id}/approve and deny.
func (h *Host) decide(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.disabled {
			writeError(w, http.StatusNotFound, "not_found", "devices are not enabled on this host", nil)
			return
		}
		d := h.authenticate(w, r, body)
		if d == nil {
			return
		}
		if len(body) != 0 {
			writeError(w, http.StatusBadRequest, "invalid_request", "the request takes no body", nil)
			return
		}
		ar := h.request(r.PathValue("id"))
		switch {
		case ar == nil:
			writeError(w, http.StatusNotFound, "not_found", "no authorization request "+strconv.Quote(r.PathValue("id")), nil)
		case ar.UserID != d.UserID:
			writeError(w, http.StatusForbidden, "forbidden", "the authorization request is another user's", nil)
		case ar.State == stateWaiting && !time.Now().Before(ar.ExpiresAt):
			writeError(w, http.StatusConflict, "not_waiting", "the authorization request has expired", map[string]any{"state": "expired"})
		case ar.State != stateWaiting:
			writeError(w, http.StatusConflict, "not_waiting", "the authorization request is "+ar.State, map[string]any{"state": ar.State})
		default:
			ar.State = to
			writeJSON(w, http.StatusOK, view(ar))
		}
	}
}

// view is a request as the endpoints show it.
func view(r *Request) map[string]any {
	v := map[string]any{
		"id": r.ID, "slug": r.Slug, "user": map[string]string{"id": r.UserID, "username": r.Username},
		"title": r.Title, "description": r.Description, "state": r.State,
		"expires_at": r.ExpiresAt.UTC().Format(time.RFC3339), "created_at": r.CreatedAt.UTC().Format(time.RFC3339),
	}
	if len(r.Data) > 0 {
		v["data"] = r.Data
	}
	return v
}
