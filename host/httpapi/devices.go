package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/internal/devicesig"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Devices serves mobile devices (docs/devices.md): registration, and the
// device's own endpoints, where it sees and decides its user's waiting
// authorization requests. The backend that keeps the devices (the
// mobiledevice plugin) authenticates each device through its operator
// commands; the host decides the requests.
type Devices struct {
	// Backend names the backend that keeps the devices; a device decides
	// only the requests this backend prepared.
	Backend string
	Admin   sdk.Admin
	// MaxWait bounds a long poll.
	MaxWait time.Duration
}

// command runs one of the device backend's commands.
func (d *Devices) command(ctx context.Context, command string, args any, secret string) (json.RawMessage, error) {
	return runCommand(ctx, d.Admin, command, args, secret)
}

func (s *Server) deviceRoutes() {
	s.mux.HandleFunc("POST /v1/devices", s.handleRegisterDevice)
	s.mux.HandleFunc("POST /v1/device/nonce", s.handleDeviceNonce)
	s.mux.HandleFunc("GET /v1/device/authorization-requests", s.handleDeviceRequests)
	s.mux.HandleFunc("POST /v1/device/authorization-requests/{id}/approve", s.handleDeviceDecide(storage.AuthRequestGranted))
	s.mux.HandleFunc("POST /v1/device/authorization-requests/{id}/deny", s.handleDeviceDecide(storage.AuthRequestDenied))
}

func (s *Server) devicesAvailable(w http.ResponseWriter) bool {
	if s.opts.Devices == nil || s.opts.AuthRequests == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "devices are not enabled: configure a mobiledevice backend (docs/devices.md)", nil)
		return false
	}
	return true
}

type registerDeviceBody struct {
	User      string `json:"user"`
	Name      string `json:"name"`
	DeviceID  string `json:"device_id"`
	PublicKey string `json:"public_key"`
	Primary   *bool  `json:"primary"`
}

// handleRegisterDevice registers a device: POST /v1/devices, by an app
// (its key; user names the user) or by the user (a live access token).
// The device's token is in the answer this once.
func (s *Server) handleRegisterDevice(w http.ResponseWriter, r *http.Request) {
	if !s.devicesAvailable(w) {
		return
	}
	var body registerDeviceBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	userID, username, ok := s.deviceOwner(w, r, body.User)
	if !ok {
		return
	}
	primary := body.Primary == nil || *body.Primary
	raw, err := s.opts.Devices.command(r.Context(), "device_register", map[string]any{
		"user_id": userID, "username": username, "name": body.Name, "device_id": body.DeviceID,
		"public_key": body.PublicKey, "primary": primary, "user_agent": r.UserAgent(),
	}, "")
	if err != nil {
		s.deviceFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, raw)
}

// deviceOwner is the user a device is registered for: with an app key,
// the user the body names; with the user's access token or session
// cookie (and the CSRF proof), that user (the body may name only them).
// ok is false when it has answered.
func (s *Server) deviceOwner(w http.ResponseWriter, r *http.Request, user string) (id, name string, ok bool) {
	if cred, problem := bearerCredential(r.Header); problem == "" && strings.HasPrefix(cred, appkeys.Prefix) {
		answered := true
		s.requireApp(func(http.ResponseWriter, *http.Request, storage.AppKey) { answered = false })(w, r)
		if answered {
			return "", "", false
		}
		if user == "" {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "user is required", nil)
			return "", "", false
		}
		u, err := s.opts.AuthRequests.Store().UserByUsername(r.Context(), user)
		if errors.Is(err, sdk.ErrNotFound) || err == nil && u.Disabled {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "no active user "+strconv.Quote(user), nil)
			return "", "", false
		}
		if err != nil {
			s.deviceFailed(w, r, err)
			return "", "", false
		}
		return u.ID, u.Username, true
	}
	id, name, ok = s.userCaller(w, r)
	if ok && user != "" && user != name {
		writeError(w, http.StatusForbidden, "forbidden", "a user registers devices for themself only", nil)
		return "", "", false
	}
	return id, name, ok
}

// handleDeviceNonce issues a nonce for one signed request of an Ed25519
// device: POST /v1/device/nonce {"device_id"}. It says nothing of
// whether the device exists.
func (s *Server) handleDeviceNonce(w http.ResponseWriter, r *http.Request) {
	if !s.devicesAvailable(w) {
		return
	}
	var body struct {
		DeviceID string `json:"device_id"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	raw, err := s.opts.Devices.command(r.Context(), "device_nonce", body, "")
	if err != nil {
		s.deviceFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

// deviceCaller is an authenticated device.
type deviceCaller struct {
	DeviceID string `json:"device_id"`
	UserID   string `json:"user_id"`
	Username string `json:"username"`
}

// device authenticates the device that sends r: HTTP Basic with its id
// and token, or a signature by its Ed25519 key over the method, the
// target, the body's hash and a nonce (package devicesig). ok is false
// when it has answered (401 invalid_device for any failure).
func (s *Server) device(w http.ResponseWriter, r *http.Request) (deviceCaller, bool) {
	var dev deviceCaller
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, codeInvalidRequest, "the request body is too large", nil)
		return dev, false
	}
	values := r.Header.Values("Authorization")
	var (
		args   map[string]string
		secret string
	)
	if len(values) == 1 {
		if id, token, ok := r.BasicAuth(); ok && id != "" && token != "" {
			args, secret = map[string]string{"device_id": id}, token
		} else if id, nonce, sig, err := devicesig.Parse(values[0]); err == nil {
			args = map[string]string{"device_id": id, "nonce": nonce, "signature": base64.RawURLEncoding.EncodeToString(sig),
				"method": r.Method, "target": r.URL.RequestURI(), "body_sha256": devicesig.BodyHash(body)}
		}
	}
	if args == nil {
		refuseDevice(w, "authenticate the device with Authorization: Basic <device_id:device_token>, or "+devicesig.Scheme+" (docs/devices.md)")
		return dev, false
	}
	raw, err := s.opts.Devices.command(r.Context(), "device_authenticate", args, secret)
	if errors.Is(err, sdk.ErrPermissionDenied) || errors.Is(err, sdk.ErrInvalidArgument) {
		refuseDevice(w, "the device is not registered, is revoked, or its proof is wrong")
		return dev, false
	}
	if err != nil {
		s.deviceFailed(w, r, err)
		return dev, false
	}
	if json.Unmarshal(raw, &dev) != nil || dev.UserID == "" {
		s.deviceFailed(w, r, errors.New("the device backend answered device_authenticate without the device's user"))
		return dev, false
	}
	return dev, true
}

func refuseDevice(w http.ResponseWriter, description string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="portcullis-device"`)
	writeError(w, http.StatusUnauthorized, "invalid_device", description, nil)
}

// handleDeviceRequests lists the device's user's waiting requests:
// GET /v1/device/authorization-requests[?wait=SECONDS]. With wait it
// answers as soon as one is waiting, on this host or another, or with an
// empty list when the wait is over.
func (s *Server) handleDeviceRequests(w http.ResponseWriter, r *http.Request) {
	if !s.devicesAvailable(w) {
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > s.opts.Devices.MaxWait {
			writeError(w, http.StatusBadRequest, codeInvalidRequest, "wait is a number of seconds from 0 to "+strconv.Itoa(int(s.opts.Devices.MaxWait/time.Second)), nil)
			return
		}
		wait = time.Duration(n) * time.Second
	}
	dev, ok := s.device(w, r)
	if !ok {
		return
	}
	// The poll may outlast the server's write timeout, and must end when
	// the server shuts down.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 30*time.Second))
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel) // EndLongPolls
	defer stop()
	reqs, err := s.opts.AuthRequests.Waiting(ctx, dev.UserID, s.opts.Devices.Backend, wait)
	if err != nil && ctx.Err() == nil {
		s.authRequestFailed(w, r, err, storage.AuthRequest{})
		return
	}
	views := make([]map[string]any, len(reqs))
	for i, req := range reqs {
		views[i] = AuthRequestView(req)
	}
	writeJSON(w, http.StatusOK, map[string]any{"authorization_requests": views})
}

// handleDeviceDecide approves or denies a request for the device's user.
func (s *Server) handleDeviceDecide(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.devicesAvailable(w) {
			return
		}
		dev, ok := s.device(w, r)
		if !ok {
			return
		}
		req, err := s.opts.AuthRequests.DeviceDecide(r.Context(), r.PathValue("id"), dev.UserID, s.opts.Devices.Backend, to)
		if errors.Is(err, authreq.ErrOtherUser) {
			writeError(w, http.StatusForbidden, "forbidden", "the authorization request is another user's", nil)
			return
		}
		if err != nil {
			s.authRequestFailed(w, r, err, req)
			return
		}
		s.log.InfoContext(r.Context(), "a device decided an authorization request", "request_id", w.Header().Get("X-Request-Id"),
			"authorization_request", req.ID, "state", req.State, "device", dev.DeviceID)
		writeJSON(w, http.StatusOK, AuthRequestView(req))
	}
}

// deviceFailed answers a device command's error.
func (s *Server) deviceFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, codeInvalidRequest, admin.Message(err), nil)
	case errors.Is(err, sdk.ErrConflict):
		writeError(w, http.StatusConflict, "device_exists", admin.Message(err), nil)
	case errors.Is(err, sdk.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such device", nil)
	default:
		s.log.ErrorContext(r.Context(), "devices", "request_id", w.Header().Get("X-Request-Id"), "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the device backend is unavailable; try again later", nil)
	}
}
