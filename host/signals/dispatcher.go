package signals

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/internal/redact"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// Mode is how a subscriber receives signals.
type Mode string

// The modes.
const (
	Sync  Mode = "sync"
	Async Mode = "async"
)

// Subscription is one subscriber and what it receives.
type Subscription struct {
	// Name identifies the subscriber; outbox rows refer to it, so it must
	// stay the same across restarts and be the same on every host.
	Name string
	Mode Mode
	// Signals selects signal names; "*" selects all.
	Signals []string
	// Sender, if set, selects only signals from that sender (a slug).
	Sender string
	// Timeout bounds one delivery.
	Timeout  time.Duration
	Receiver sdk.SignalReceiver
}

func (s *Subscription) wants(name, sender string) bool {
	if s.Sender != "" && s.Sender != sender {
		return false
	}
	for _, n := range s.Signals {
		if n == "*" || n == name {
			return true
		}
	}
	return false
}

// Dispatcher emits signals. It is safe for concurrent use.
type Dispatcher struct {
	store *storage.Store
	log   *slog.Logger
	now   func() time.Time

	mu   sync.RWMutex
	subs []*Subscription

	// queued wakes the local Deliverer when a signal is queued.
	queued chan struct{}

	emitted       *metrics.Counter
	syncFailures  *metrics.Counter
	enqueueErrors *metrics.Counter
}

// NewDispatcher returns a dispatcher with no subscribers.
func NewDispatcher(store *storage.Store, log *slog.Logger, reg *metrics.Registry) *Dispatcher {
	return &Dispatcher{
		store:         store,
		log:           log,
		now:           time.Now,
		queued:        make(chan struct{}, 1),
		emitted:       reg.Counter("portcullis_signals_emitted_total", "Signals emitted, by name.", "signal"),
		syncFailures:  reg.Counter("portcullis_signal_sync_failures_total", "Sync receivers that failed, panicked or timed out.", "subscriber", "signal"),
		enqueueErrors: reg.Counter("portcullis_signal_enqueue_errors_total", "Signals that could not be queued for async delivery.", "signal"),
	}
}

// Subscribe adds subscribers; sync ones run in the order added.
func (d *Dispatcher) Subscribe(subs ...*Subscription) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subs = append(d.subs, subs...)
}

// Subscriptions returns the subscribers by name.
func (d *Dispatcher) Subscriptions() map[string]*Subscription {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := make(map[string]*Subscription, len(d.subs))
	for _, s := range d.subs {
		m[s.Name] = s
	}
	return m
}

// customName is the form of a signal name outside the catalogue.
var customName = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,62}$`)

// ErrBadSignal is returned for a signal whose name or arguments are not
// acceptable. It wraps sdk.ErrInvalidArgument.
var ErrBadSignal = fmt.Errorf("%w: bad signal", sdk.ErrInvalidArgument)

// The origins of a signal (sdk.Signal.Origin).
const (
	OriginHost   = "host"
	OriginPlugin = "plugin"
)

// Emit sends a host signal: args are the typed arguments of a catalogue
// signal (package sdk/signals), sent from sender. It returns the signal's
// id, or "" if no subscriber wants it: such a signal is only counted,
// which is all that a flood of refused logins then costs here.
func (d *Dispatcher) Emit(ctx context.Context, sender string, args any) string {
	name, ok := signals.NameOf(args)
	if !ok { // a programming error: only catalogue types are passed
		d.log.Error("emitting a signal that is not in the catalogue", "type", fmt.Sprintf("%T", args))
		return ""
	}
	if !d.wanted(name, sender) {
		d.emitted.Inc(name)
		return ""
	}
	raw, err := json.Marshal(args)
	if err != nil { // unreachable for catalogue types
		d.log.Error("encoding signal", "signal", name, "error", err)
		return ""
	}
	return d.emit(ctx, sdk.Signal{Name: name, Sender: sender, Origin: OriginHost, Args: raw})
}

// EmitFromPlugin sends a signal of the plugin instance sender, whose
// arguments are already JSON. The caller has checked that the plugin may
// send name (see package hostsvc); a catalogue name must carry exactly its
// documented arguments, and any other name must look like one (lower case,
// digits, _ and .).
func (d *Dispatcher) EmitFromPlugin(ctx context.Context, name, sender string, args json.RawMessage) (string, error) {
	if typed, ok := signals.New(name); ok {
		if problems := strictjson.Check(args, reflect.TypeOf(typed).Elem()); len(problems) > 0 {
			return "", fmt.Errorf("%w: arguments of %s: %s", ErrBadSignal, name, argsProblem(problems[0]))
		}
		// The check accepts null, as encoding/json does, but a signal
		// without its arguments would be delivered with every field empty.
		if t := bytes.TrimSpace(args); len(t) == 0 || t[0] != '{' {
			return "", fmt.Errorf("%w: arguments of %s: must be a JSON object, not %s", ErrBadSignal, name, t)
		}
		// What the check cannot judge (a time's format, say), Unmarshal
		// still reports.
		if err := json.Unmarshal(args, typed); err != nil {
			return "", fmt.Errorf("%w: arguments of %s: %v", ErrBadSignal, name, strings.TrimPrefix(err.Error(), "json: "))
		}
		raw, _ := json.Marshal(typed)
		args = raw
	} else if !customName.MatchString(name) {
		return "", fmt.Errorf("%w: name %q must be lower-case letters, digits, _ and .", ErrBadSignal, name)
	} else if !json.Valid(args) || len(args) == 0 || args[0] != '{' {
		return "", fmt.Errorf("%w: arguments of %s must be a JSON object", ErrBadSignal, name)
	}
	return d.emit(ctx, sdk.Signal{Name: name, Sender: sender, Origin: OriginPlugin, Args: args}), nil
}

// argsProblem words a problem with a catalogue signal's arguments.
func argsProblem(p strictjson.Problem) string {
	switch p.Kind {
	case strictjson.Empty, strictjson.Syntax:
		return "not valid JSON: " + p.Message
	case strictjson.Trailing:
		return "data after the JSON object"
	case strictjson.Duplicate:
		return fmt.Sprintf("argument %q is given twice", p.Path)
	case strictjson.Unknown, strictjson.WrongCase:
		return fmt.Sprintf("unknown argument %q", p.Path)
	case strictjson.WrongType:
		if p.Path == "" {
			return "must be a JSON object, not " + p.Got
		}
	}
	return fmt.Sprintf("argument %q %s", p.Path, p.Message)
}

// wanted reports whether any subscriber wants the signal name from sender.
func (d *Dispatcher) wanted(name, sender string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, s := range d.subs {
		if s.wants(name, sender) {
			return true
		}
	}
	return false
}

func (d *Dispatcher) emit(ctx context.Context, sig sdk.Signal) string {
	sig.ID = uuid.NewString()
	sig.Time = d.now().UTC().Truncate(time.Millisecond)
	d.emitted.Inc(sig.Name)

	d.mu.RLock()
	var async []string
	var syncSubs []*Subscription
	for _, s := range d.subs {
		if !s.wants(sig.Name, sig.Sender) {
			continue
		}
		if s.Mode == Sync {
			syncSubs = append(syncSubs, s)
		} else {
			async = append(async, s.Name)
		}
	}
	d.mu.RUnlock()

	// The request may end before delivery does; the signal must not.
	ctx = context.WithoutCancel(ctx)
	if len(async) > 0 {
		if err := d.store.Enqueue(ctx, sig, async); err != nil {
			d.enqueueErrors.Inc(sig.Name)
			d.log.Error("signal lost: could not queue it for async delivery", "signal", sig.Name, "id", sig.ID, "error", err)
		} else {
			select {
			case d.queued <- struct{}{}:
			default:
			}
		}
	}
	for _, s := range syncSubs {
		sctx, span := syncSpan(ctx, s, &sig)
		err := deliverSync(sctx, s, &sig)
		endDeliverySpan(span, err, false)
		if err != nil {
			d.syncFailures.Inc(s.Name, sig.Name)
			// A URL in the error may carry credentials.
			d.log.Error("sync signal receiver failed; the caller goes on", "subscriber", s.Name, "signal", sig.Name, "id", sig.ID, "error", redact.URLs(err.Error()))
		}
	}
	return sig.ID
}

// deliverSync calls one sync receiver with its deadline, turning a panic
// into an error.
func deliverSync(ctx context.Context, s *Subscription, sig *sdk.Signal) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	// The receiver runs on its own goroutine so that one that ignores its
	// deadline cannot hold the caller: it is abandoned when time is up.
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("receiver panicked: %v\n%s", r, debug.Stack())
			}
		}()
		done <- s.Receiver.Receive(ctx, sig)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", s.Timeout, err)
	}
	return err
}
