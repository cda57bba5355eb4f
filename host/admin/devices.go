package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Devices are the mobile devices the device backend keeps: every one, or
// the user's. Each is the backend's view: never a secret.
func (s *Service) Devices(ctx context.Context, username string) (json.RawMessage, error) {
	args := map[string]string{}
	if username != "" {
		u, err := s.findUser(ctx, username)
		if err != nil {
			return nil, err
		}
		args["user_id"] = u.ID
	}
	return s.deviceCommand(ctx, "device_list", args)
}

// RevokeDevice revokes a device: it can no longer sign in or decide
// requests until it is registered again.
func (s *Service) RevokeDevice(ctx context.Context, c Caller, id string) (json.RawMessage, error) {
	raw, err := s.deviceCommand(ctx, "device_revoke", map[string]string{"device_id": id})
	if err != nil {
		return nil, err
	}
	var out struct {
		Revoked bool `json:"revoked"`
	}
	if json.Unmarshal(raw, &out) == nil && out.Revoked {
		s.audit(ctx, c, "device_revoked", id, nil)
	}
	return raw, nil
}

func (s *Service) deviceCommand(ctx context.Context, command string, args any) (json.RawMessage, error) {
	if s.opts.Devices == nil {
		return nil, fmt.Errorf("devices are not configured: %w", ErrUnavailable)
	}
	raw, _ := json.Marshal(args)
	var resp sdk.AdminResponse
	err := s.opts.Devices.Admin(ctx, &sdk.AdminRequest{Command: command, Args: raw}, &resp)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, fmt.Errorf("no such device: %w", sdk.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return resp.Result, nil
}
