package sdk

import (
	"context"
	"encoding/json"
	"time"
)

// Signal is one event in the host's signal stream.
type Signal struct {
	ID     string
	Name   string
	Sender string
	// Origin is "host" for a signal the host emitted (every login, token,
	// session, lockout and plugin_* signal is one) and "plugin" for one a
	// plugin emitted; a receiver trusts a host signal's contents as the
	// host's word.
	Origin string
	Time   time.Time
	// Args holds the signal's arguments as a JSON object; for a catalogue
	// signal, signals.Decode reads them into their type.
	Args json.RawMessage
}

// SignalReceiver receives the signals a plugin subscribed to in its
// Metadata. Receive is called with a deadline; an error or a timeout is
// logged and counted by the host and, for async delivery, retried. It must
// be idempotent: delivery is at least once, and Signal.ID identifies
// duplicates.
type SignalReceiver interface {
	Receive(ctx context.Context, sig *Signal) error
}
