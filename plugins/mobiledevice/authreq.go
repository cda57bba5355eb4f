package mobiledevice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// DeliveryDevice is the Challenge.Delivery of every challenge: the user's
// devices find the request (pushed by the app on the notification
// webhook, or by polling the host) and answer it.
const DeliveryDevice = "device"

// ReasonInvalidDevice is the reason of every answer that is not valid:
// no device proof, not an active device of the request's user, a wrong
// token, or a check against another request's or generation's state.
const ReasonInvalidDevice = "invalid_device"

// state is a challenge's state: what it was prepared for. It holds no
// secret: the proof is the device's, checked against its record.
type state struct {
	Version    int    `json:"v"`
	RequestID  string `json:"request_id"`
	UserID     string `json:"user_id"`
	Generation int    `json:"generation"`
}

// stateVersion is the version of the state's layout.
const stateVersion = 1

func (s state) encode() []byte {
	raw, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and ints always encode
	}
	return raw
}

// errNotAState means a stored state is not one this plugin wrote.
var errNotAState = errors.New("the stored state is not a mobiledevice challenge's")

func decodeState(raw []byte) (state, error) {
	var s state
	if err := json.Unmarshal(raw, &s); err != nil || s.Version != stateVersion || s.RequestID == "" || s.UserID == "" {
		return state{}, errNotAState
	}
	return s, nil
}

// notice is the JSON body POSTed to the notification webhook: which
// request the user's devices have to answer. It holds no secret of any
// kind.
type notice struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	Slug        string     `json:"slug"`
	UserID      string     `json:"user_id"`
	Username    string     `json:"username"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Devices     []string   `json:"devices"`
}

// noticeType is a notice's type.
const noticeType = "authorization_request"

// The notification's share of PrepareChallenge's time: it must leave the
// challenge time to return, since a notice that cannot be sent does not
// fail it. Without a deadline it gets noticeNoDeadline in all.
const (
	noticeShare      = 0.75
	noticeNoDeadline = 5 * time.Second
)

// PrepareChallenge implements sdk.AuthorizationRequestBackend: the request
// is answered by one of its user's active devices. A user without one
// cannot answer, and the request is refused (the host fails closed). With
// notify.webhook set, the app is told which devices to push the request
// to; a notice that cannot be delivered is logged and does not fail the
// challenge, since devices also poll.
func (p *Plugin) PrepareChallenge(ctx context.Context, req *authreq.Request) (authreq.Challenge, error) {
	if err := p.ready(); err != nil {
		return authreq.Challenge{}, err
	}
	switch {
	case req.ID == "":
		return authreq.Challenge{}, invalid("the request has no id")
	case req.UserID == "":
		return authreq.Challenge{}, invalid("the request has no user")
	}
	devices, err := p.userDevices(ctx, req.UserID)
	if err != nil {
		return authreq.Challenge{}, err
	}
	var active []string
	for _, d := range devices {
		if d.Active {
			active = append(active, d.DeviceID)
		}
	}
	if len(active) == 0 {
		return authreq.Challenge{}, fmt.Errorf("%w: mobiledevice: the user has no active device", sdk.ErrNotFound)
	}
	raw := state{Version: stateVersion, RequestID: req.ID, UserID: req.UserID, Generation: req.Generation}.encode()
	if len(raw) > authreq.MaxState {
		return authreq.Challenge{}, invalid("the request's id and user id are too long for a state of %d bytes", authreq.MaxState)
	}
	if p.notify != nil {
		p.sendNotice(ctx, req, active)
	}
	p.log.Debug("mobiledevice: challenge prepared", "request_id", req.ID, "generation", req.Generation, "devices", len(active))
	return authreq.Challenge{State: raw, Delivery: DeliveryDevice}, nil
}

// sendNotice POSTs the request's notice, within noticeShare of the time
// left, and logs a failure.
func (p *Plugin) sendNotice(ctx context.Context, req *authreq.Request, devices []string) {
	n := notice{
		Type: noticeType, ID: req.ID, Slug: req.Slug, UserID: req.UserID, Username: req.Username,
		Title: req.Title, Description: req.Description, Devices: devices,
	}
	if !req.ExpiresAt.IsZero() {
		at := req.ExpiresAt.UTC()
		n.ExpiresAt = &at
	}
	body, err := json.Marshal(n)
	if err != nil {
		p.log.Warn("mobiledevice: encoding a notice failed", "request_id", req.ID)
		return
	}
	budget := noticeNoDeadline
	if deadline, ok := ctx.Deadline(); ok {
		budget = time.Duration(float64(time.Until(deadline)) * noticeShare)
	}
	nctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	if err := p.notify.Send(nctx, body); err != nil {
		p.log.Warn("mobiledevice: the notification webhook was not reached; the devices find the request when they poll", "request_id", req.ID, "error", err)
		return
	}
	p.log.Debug("mobiledevice: notice delivered", "request_id", req.ID)
}

// CheckAnswer implements sdk.AuthorizationRequestBackend:
// django-auth-token's MobileDeviceAuthorizationRequestBackend. The answer
// is valid when its credentials device_id and device_token are those of
// an active token device of the request's user, and the state is this
// request's and generation's. Anything else is not valid
// (ReasonInvalidDevice); a state this plugin did not write is an error.
func (p *Plugin) CheckAnswer(ctx context.Context, req *authreq.Request, raw []byte, answer authreq.Answer) (authreq.Verdict, error) {
	if err := p.ready(); err != nil {
		return authreq.Verdict{}, err
	}
	st, err := decodeState(raw)
	if err != nil {
		return authreq.Verdict{}, fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
	}
	refused := authreq.Verdict{Reason: ReasonInvalidDevice}
	id, token := answer.Credentials["device_id"], answer.Credentials["device_token"]
	if id == "" || token == "" {
		return refused, nil
	}
	if st.RequestID != req.ID || st.UserID != req.UserID || st.Generation != req.Generation {
		p.log.Warn("mobiledevice: an answer was checked against another request's or generation's state", "request_id", req.ID, "generation", req.Generation)
		return refused, nil
	}
	var d *device
	var stored []byte
	if validDeviceID(id) {
		if d, stored, err = p.load(ctx, id); err != nil {
			return authreq.Verdict{}, err
		}
	}
	ok := tokenMatches(storedHash(d), token)
	why := refusal(d, KeyToken, ok)
	if why == "" && d.UserID != req.UserID {
		why = "not_the_users_device"
	}
	if why != "" {
		p.log.Info("mobiledevice: an answer was refused", "request_id", req.ID, "device_id", shownID(id), "why", why)
		return refused, nil
	}
	p.touch(ctx, d, stored)
	return authreq.Verdict{Valid: true}, nil
}
