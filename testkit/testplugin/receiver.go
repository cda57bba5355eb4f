package testplugin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Receiver is a signal-receiver plugin whose behaviour comes from its
// configuration:
//
//	config: {behaviour: ok|error|panic|sleep, sleep: 5s, record: /path/to/file}
//
// It subscribes to user_login_failed and user_logged_in. With record set,
// each signal it receives is appended to that file as a JSON line (before
// misbehaving), so a test can see what reached it.
type Receiver struct {
	mu  sync.Mutex
	cfg ReceiverConfig
}

// ReceiverConfig is Receiver's configuration.
type ReceiverConfig struct {
	Behaviour string `json:"behaviour"`
	Sleep     string `json:"sleep"`
	Record    string `json:"record"`
}

// Metadata implements sdk.Plugin.
func (r *Receiver) Metadata() sdk.Metadata {
	return sdk.Metadata{
		Name: "receiver", Version: "test",
		Subscriptions: []sdk.Subscription{
			{Signal: "user_login_failed"},
			{Signal: "user_logged_in"},
		},
	}
}

// Configure implements sdk.Plugin.
func (r *Receiver) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var cfg ReceiverConfig
	if err := req.DecodeConfig(&cfg); err != nil {
		return err
	}
	r.cfg = cfg
	return nil
}

// Receive implements sdk.SignalReceiver.
func (r *Receiver) Receive(_ context.Context, sig *sdk.Signal) error {
	if r.cfg.Record != "" {
		line, _ := json.Marshal(map[string]any{"id": sig.ID, "name": sig.Name, "sender": sig.Sender, "origin": sig.Origin, "args": sig.Args})
		r.mu.Lock()
		f, err := os.OpenFile(r.cfg.Record, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err == nil {
			_, _ = f.Write(append(line, '\n'))
			_ = f.Close()
		}
		r.mu.Unlock()
	}
	switch r.cfg.Behaviour {
	case "error":
		return errors.New("receiver told to fail")
	case "panic":
		panic("receiver told to panic")
	case "sleep":
		// Deliberately deaf to the deadline, like a stuck receiver.
		d, _ := time.ParseDuration(r.cfg.Sleep)
		time.Sleep(d)
	}
	return nil
}
