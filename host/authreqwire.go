package host

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/config"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// authRequests builds the authorization-request service over the
// configured backends' plugins; a backend listed whose plugin cannot
// prepare challenges stops the host.
func (h *Host) authRequests() (*authreq.Service, error) {
	a := h.cfg.AuthorizationRequests
	backends := map[string]sdk.AuthorizationRequestBackend{}
	timeout := 10 * time.Second
	for _, name := range a.Backends {
		inst := h.sup.Instance(name)
		if info := inst.Status().Info; !info.Has(hostside.AuthorizationRequest) {
			return nil, fmt.Errorf("authorization_requests.backends: backend %q: plugin %q does not prepare authorization requests' challenges", name, info.Name)
		}
		backends[name] = inst.AuthorizationRequestBackend()
		for _, b := range h.cfg.Backends {
			if b.Name == name && b.Timeout.D() > 0 {
				timeout = max(timeout, b.Timeout.D())
			}
		}
	}
	var watched []string // the device backend's requests wake devices' polls
	if d := h.cfg.Devices.Backend; d != "" {
		watched = []string{d}
	}
	return authreq.New(authreq.Options{
		Store: h.store, Backends: backends, Order: a.Backends, Watched: watched, DefaultExpiration: a.DefaultExpiration.D(),
		MaxExpiration: a.MaxExpiration.D(), MaxWrongAnswers: a.MaxWrongAnswers, CallTimeout: timeout,
		Signals: h.signals, Logger: h.log,
	}), nil
}

// twoFactor is the two-factor login, or nil when two_factor.required is
// none. Its chain is the login chain's lockout links (the same counters:
// a wrong code counts as a wrong password does) and the code's check.
func (h *Host) twoFactor(links []chain.Link, svc *authreq.Service, totp *httpapi.TOTP) (*httpapi.TwoFactor, error) {
	tf := h.cfg.TwoFactor
	if tf.Required != config.TwoFactorAll && tf.Required != config.TwoFactorEnrolled {
		return nil, nil
	}
	tfLinks := append(limiterLinks(links), chain.Link{Name: tf.Backend, Authenticator: authreq.SecondFactor{Service: svc}, Timeout: 10 * time.Second})
	out := &httpapi.TwoFactor{Service: svc, Backend: tf.Backend, Expiration: tf.Expiration.D(), Chain: chain.New(h.log, tfLinks...).ObserveCalls(h.backendCalls())}
	if tf.Required == config.TwoFactorEnrolled {
		if totp == nil {
			return nil, fmt.Errorf("two_factor.required: enrolled needs a two_factor.backend that enrolls authenticator apps (the otp plugin); backend %q does not", tf.Backend)
		}
		out.OnlyEnrolled, out.Enrolled = true, totp.Enrolled
	}
	return out, nil
}

// totp serves users' authenticator-app enrollment through the two-factor
// backend's commands, when that backend takes commands (the otp plugin).
func (h *Host) totp() *httpapi.TOTP {
	name := h.cfg.TwoFactor.Backend
	if name == "" {
		return nil
	}
	inst := h.sup.Instance(name)
	if !inst.Status().Info.Has(hostside.Admin) {
		return nil
	}
	return &httpapi.TOTP{Backend: name, Admin: inst.Admin(), Issuer: "Portcullis"}
}

// devices serves mobile devices through the backend that keeps them
// (devices.backend), or nil when none is configured.
func (h *Host) devices() (*httpapi.Devices, error) {
	name := h.cfg.Devices.Backend
	if name == "" {
		return nil, nil
	}
	inst := h.sup.Instance(name)
	if info := inst.Status().Info; !info.Has(hostside.Admin) || !info.Has(hostside.AuthorizationRequest) {
		return nil, fmt.Errorf("devices.backend: backend %q: plugin %q does not keep devices (it must take commands and prepare authorization requests)", name, info.Name)
	}
	return &httpapi.Devices{Backend: name, Admin: inst.Admin(), MaxWait: h.cfg.Devices.MaxWait.D()}, nil
}

// expireAuthRequests marks the authorization requests whose time is up
// expired, every second, and deletes decided ones past their retention
// every minute. Several hosts may do it at once: each request expires
// once.
func (h *Host) expireAuthRequests(ctx context.Context, svc *authreq.Service) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastPurge := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := svc.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("expiring authorization requests", "error", err)
		}
		if time.Since(lastPurge) >= time.Minute {
			lastPurge = time.Now()
			cutoff := time.Now().Add(-h.cfg.AuthorizationRequests.Retention.D())
			if _, err := h.store.PurgeAuthRequests(ctx, cutoff, 10000); err != nil && ctx.Err() == nil {
				h.log.Warn("purging decided authorization requests", "error", err)
			}
		}
	}
}
