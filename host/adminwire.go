package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/sdk"
	sigs "github.com/portcullis-auth/portcullis/sdk/signals"
)

// adminService builds the admin subsystem over the host's database, its
// lockout twins, the password backend (to hash users' passwords) and the
// supervisor (plugin states).
func (h *Host) adminService(adminLinks []chain.Link, authRequests *authreq.Service) *admin.Service {
	var lockouts []string
	for _, l := range adminLinks {
		lockouts = append(lockouts, strings.TrimSuffix(l.Name, admin.TwinSuffix))
	}
	opts := admin.Options{
		Store: h.store, Signals: h.signals, Logger: h.log, Limiters: adminLinks, LockoutBackends: lockouts,
		Plugins: h.sup.Statuses, AuthRequests: authRequests,
		OnUserSessionsEnded: func(ctx context.Context, userID string, sessions []string) {
			for _, id := range sessions {
				if _, err := h.store.RecordLogout(ctx, id, time.Now()); err != nil {
					h.log.Warn("stamping a logout in the access log", "error", err)
				}
				h.signals.Emit(ctx, "tokens", &sigs.UserLoggedOut{UserID: userID, SessionID: id})
			}
		},
	}
	for _, b := range h.cfg.Backends {
		if b.Plugin != "password" {
			continue
		}
		inst := h.sup.Instance(b.Name)
		opts.HashPassword = func(ctx context.Context, pw string) (string, error) {
			var resp sdk.AdminResponse
			if err := inst.Admin().Admin(ctx, &sdk.AdminRequest{Command: "hash_password", Secret: pw}, &resp); err != nil {
				return "", fmt.Errorf("backend %q: hash_password: %w", b.Name, err)
			}
			var out struct {
				Hash string `json:"hash"`
			}
			if err := json.Unmarshal(resp.Result, &out); err != nil || out.Hash == "" {
				return "", fmt.Errorf("backend %q answered hash_password without a hash", b.Name)
			}
			return out.Hash, nil
		}
		break
	}
	if name := h.cfg.Devices.Backend; name != "" {
		opts.Devices = h.sup.Instance(name).Admin()
	}
	svc := admin.New(opts)
	h.signals.Emit(context.Background(), admin.Sender, &sigs.AdminAuthInitialized{})
	return svc
}
