// Package testplugin holds plugins the project's own tests and benchmarks
// run as real subprocesses. They are not shipped.
package testplugin

import (
	"context"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Scripted is an Authenticator whose answers come from its configuration:
//
//	config: {answers: {alice: identity, mallory: "deny:banned", "*": abstain}}
//
// An answer is "identity[:role,role...]" (grant, vouching for the roles
// listed, as a directory's mapped groups), "abstain[:reason]",
// "deny[:reason]" or "sleep:<duration>" (answer abstain after sleeping,
// honouring the deadline). "*" is the answer for any other username
// (default abstain). The identity's subject is "scripted:" and the
// username, or the one "subjects" names for the username (a user id of
// the host's users table, say). With "count": "calls", every call is
// counted in the host storage key "calls", so a test can see how many
// attempts reached the backend.
type Scripted struct {
	answers  map[string]string
	subjects map[string]string
	count    string
	storage  sdk.Storage
}

// ScriptedConfig is Scripted's configuration.
type ScriptedConfig struct {
	Answers  map[string]string `json:"answers"`
	Subjects map[string]string `json:"subjects"`
	Count    string            `json:"count"`
}

// Metadata implements sdk.Plugin.
func (s *Scripted) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "scripted", Version: "test"}
}

// Configure implements sdk.Plugin.
func (s *Scripted) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var cfg ScriptedConfig
	if err := req.DecodeConfig(&cfg); err != nil {
		return err
	}
	s.answers, s.subjects, s.count, s.storage = cfg.Answers, cfg.Subjects, cfg.Count, req.Host.Storage()
	return nil
}

// Authenticate implements sdk.Authenticator.
func (s *Scripted) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if s.count != "" {
		if _, err := s.storage.Increment(ctx, s.count, 1, 0); err != nil {
			return err
		}
	}
	answer, ok := s.answers[req.Username]
	if !ok {
		answer = s.answers["*"]
	}
	kind, arg, _ := strings.Cut(answer, ":")
	switch kind {
	case "identity":
		subject, ok := s.subjects[req.Username]
		if !ok {
			subject = "scripted:" + req.Username
		}
		id := sdk.Identity{Subject: subject, Username: req.Username}
		if arg != "" {
			// Sent as written, invalid names too: the host must refuse them.
			id.Roles = strings.Split(arg, ",")
		}
		resp.Grant(id)
	case "deny":
		resp.Deny(arg, 0)
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return err
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		resp.Abstain("")
	default:
		resp.Abstain(arg)
	}
	return nil
}
