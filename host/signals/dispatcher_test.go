package signals

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

func TestSubscriptionWants(t *testing.T) {
	tests := []struct {
		name   string
		sub    Subscription
		signal string
		sender string
		want   bool
	}{
		{"exact name", Subscription{Signals: []string{"user_login_failed"}}, "user_login_failed", "local", true},
		{"other name", Subscription{Signals: []string{"user_login_failed"}}, "user_logged_in", "local", false},
		{"one of several names", Subscription{Signals: []string{"user_logged_in", "user_login_failed"}}, "user_login_failed", "local", true},
		{"star selects everything", Subscription{Signals: []string{"*"}}, "my.custom_signal", "plugin-x", true},
		{"star among names", Subscription{Signals: []string{"user_logged_in", "*"}}, "lockout_reset", "local", true},
		{"no names selects nothing", Subscription{}, "user_login_failed", "local", false},
		{"name is not a pattern", Subscription{Signals: []string{"user_*"}}, "user_login_failed", "local", false},
		{"name match is case-sensitive", Subscription{Signals: []string{"User_Login_Failed"}}, "user_login_failed", "local", false},
		{"sender matches", Subscription{Signals: []string{"*"}, Sender: "ldap"}, "user_login_failed", "ldap", true},
		{"sender differs", Subscription{Signals: []string{"*"}, Sender: "ldap"}, "user_login_failed", "local", false},
		{"sender matches but name does not", Subscription{Signals: []string{"user_logged_in"}, Sender: "ldap"}, "user_login_failed", "ldap", false},
		{"sender is exact", Subscription{Signals: []string{"*"}, Sender: "ldap"}, "user_login_failed", "ldap2", false},
		{"empty sender selects any sender", Subscription{Signals: []string{"*"}}, "user_login_failed", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sub.wants(tt.signal, tt.sender); got != tt.want {
				t.Fatalf("wants(%q, %q) with Signals=%q Sender=%q = %v, want %v",
					tt.signal, tt.sender, tt.sub.Signals, tt.sub.Sender, got, tt.want)
			}
		})
	}
}

// TestEmitRoutes checks which subscribers receive a signal: sync ones are
// called inside Emit, async ones get exactly one outbox row each.
func TestEmitRoutes(t *testing.T) {
	// Every subscriber exists in both modes: "s-…" is sync, "a-…" async.
	selections := []struct {
		suffix  string
		signals []string
		sender  string
	}{
		{"login", []string{"user_login_failed"}, ""},
		{"all", []string{"*"}, ""},
		{"ldap", []string{"*"}, "ldap"},
		{"ldap-login", []string{"user_login_failed"}, "ldap"},
		{"logged-in", []string{"user_logged_in"}, ""},
		{"custom", []string{"acme.thing_done"}, ""},
	}
	tests := []struct {
		name   string
		emit   func(ctx context.Context, d *Dispatcher) (string, error)
		signal string
		want   []string // suffixes, in subscription order
	}{
		{
			name: "login failure from local",
			emit: func(ctx context.Context, d *Dispatcher) (string, error) {
				return d.Emit(ctx, "local", loginFailed("alice")), nil
			},
			signal: "user_login_failed",
			want:   []string{"login", "all"},
		},
		{
			name: "login failure from ldap",
			emit: func(ctx context.Context, d *Dispatcher) (string, error) {
				return d.Emit(ctx, "ldap", loginFailed("alice")), nil
			},
			signal: "user_login_failed",
			want:   []string{"login", "all", "ldap", "ldap-login"},
		},
		{
			name: "login from local",
			emit: func(ctx context.Context, d *Dispatcher) (string, error) {
				return d.Emit(ctx, "local", &signals.UserLoggedIn{UserID: "u1", Username: "alice"}), nil
			},
			signal: "user_logged_in",
			want:   []string{"all", "logged-in"},
		},
		{
			name: "custom signal from a plugin",
			emit: func(ctx context.Context, d *Dispatcher) (string, error) {
				return d.EmitFromPlugin(ctx, "acme.thing_done", "acme", json.RawMessage(`{"n":1}`))
			},
			signal: "acme.thing_done",
			want:   []string{"all", "custom"},
		},
		{
			name: "custom signal nobody selected from ldap",
			emit: func(ctx context.Context, d *Dispatcher) (string, error) {
				return d.EmitFromPlugin(ctx, "acme.other", "ldap", json.RawMessage(`{}`))
			},
			signal: "acme.other",
			want:   []string{"all", "ldap"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, store *storage.Store) {
				e := newEnv(t, store)
				rec := &recorder{}
				for _, sel := range selections {
					e.disp.Subscribe(
						&Subscription{Name: "s-" + sel.suffix, Mode: Sync, Signals: sel.signals, Sender: sel.sender,
							Timeout: time.Second, Receiver: rec.receiver("s-"+sel.suffix, nil)},
						&Subscription{Name: "a-" + sel.suffix, Mode: Async, Signals: sel.signals, Sender: sel.sender,
							Timeout: time.Second, Receiver: rec.receiver("a-"+sel.suffix, nil)},
					)
				}
				id, err := tt.emit(context.Background(), e.disp)
				if err != nil {
					t.Fatalf("emit: %v", err)
				}

				var wantSync, wantAsync []string
				for _, s := range tt.want {
					wantSync = append(wantSync, "s-"+s)
					wantAsync = append(wantAsync, "a-"+s)
				}
				if got := rec.names(); !slices.Equal(got, wantSync) {
					t.Errorf("sync receivers called: %q, want %q (async receivers are never called by Emit)", got, wantSync)
				}
				for _, c := range rec.all() {
					if c.sig.ID != id || c.sig.Name != tt.signal {
						t.Errorf("%s received %s %s, want %s %s", c.subscriber, c.sig.Name, c.sig.ID, tt.signal, id)
					}
				}
				rows := e.rows(t)
				var gotAsync []string
				for _, r := range rows {
					gotAsync = append(gotAsync, r.Subscriber)
					if r.SignalID != id || r.Name != tt.signal || r.State != storage.DeliveryPending || r.Attempts != 0 {
						t.Errorf("outbox row %+v: want pending %s %s with no attempts", r, tt.signal, id)
					}
				}
				sort.Strings(gotAsync)
				sort.Strings(wantAsync)
				if !slices.Equal(gotAsync, wantAsync) {
					t.Errorf("outbox rows for %q, want exactly one each for %q", gotAsync, wantAsync)
				}
				if got := e.reg.Counter("portcullis_signals_emitted_total", "").Value(tt.signal); got != 1 {
					t.Errorf("portcullis_signals_emitted_total{signal=%q} = %d, want 1", tt.signal, got)
				}
			})
		})
	}
}

func TestEmitNoAsyncSubscriberQueuesNothing(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	e.disp.Subscribe(&Subscription{Name: "a", Mode: Async, Signals: []string{"user_logged_in"}, Timeout: time.Second,
		Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error { return nil }}})
	for range 3 {
		e.disp.Emit(context.Background(), "local", loginFailed("bob"))
	}
	if rows := e.rows(t); len(rows) != 0 {
		t.Fatalf("non-matching signals were queued: %+v", rows)
	}
	select {
	case <-e.disp.queued:
		t.Fatal("the deliverer was woken although nothing was queued")
	default:
	}
}

func TestEmitSyncOrder(t *testing.T) {
	tests := []struct {
		name      string
		subscribe func(d *Dispatcher, subs []*Subscription)
	}{
		{"one Subscribe call", func(d *Dispatcher, subs []*Subscription) { d.Subscribe(subs...) }},
		{"one Subscribe call each", func(d *Dispatcher, subs []*Subscription) {
			for _, s := range subs {
				d.Subscribe(s)
			}
		}},
	}
	// Names in an order that is neither sorted nor reverse-sorted, so that a
	// map or a sort would show.
	order := []string{"m", "c", "x", "a", "q", "b", "z", "k"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, openSQLite(t))
			rec := &recorder{}
			var subs []*Subscription
			for _, n := range order {
				subs = append(subs, &Subscription{Name: n, Mode: Sync, Signals: []string{"*"}, Timeout: time.Second,
					Receiver: rec.receiver(n, nil)})
			}
			tt.subscribe(e.disp, subs)
			for i := range 5 {
				e.disp.Emit(context.Background(), "local", loginFailed("alice"))
				got := rec.names()[i*len(order):]
				if !slices.Equal(got, order) {
					t.Fatalf("emit %d: sync receivers ran in order %q, want subscription order %q", i, got, order)
				}
			}
		})
	}
}

// TestEmitIsolatesSyncFailures has one sync receiver misbehave between two
// good ones: the later one still runs, Emit returns, the async row is still
// queued and the failure is counted against the right labels.
func TestEmitIsolatesSyncFailures(t *testing.T) {
	const timeout = 100 * time.Millisecond
	tests := []struct {
		name    string
		receive func(ctx context.Context, sig *sdk.Signal) error
		wantLog string
	}{
		{
			name:    "returns an error",
			receive: func(context.Context, *sdk.Signal) error { return errors.New("ldap is down") },
			wantLog: "ldap is down",
		},
		{
			name:    "panics",
			receive: func(context.Context, *sdk.Signal) error { panic("nil map somewhere") },
			wantLog: "receiver panicked: nil map somewhere",
		},
		{
			name: "panics with an error value",
			receive: func(context.Context, *sdk.Signal) error {
				var m map[string]int
				m["x"]++ // a real runtime panic
				return nil
			},
			wantLog: "receiver panicked: assignment to entry in nil map",
		},
		{
			name: "blocks until its deadline",
			receive: func(ctx context.Context, _ *sdk.Signal) error {
				<-ctx.Done()
				return ctx.Err()
			},
			wantLog: "no answer within 100ms",
		},
		{
			name: "answers nil after its deadline",
			receive: func(ctx context.Context, _ *sdk.Signal) error {
				<-ctx.Done()
				time.Sleep(10 * time.Millisecond)
				return nil
			},
			wantLog: "no answer within 100ms",
		},
		{
			name: "wraps the deadline in its own error",
			receive: func(ctx context.Context, _ *sdk.Signal) error {
				<-ctx.Done()
				return errors.Join(errors.New("rpc failed"), ctx.Err())
			},
			wantLog: "no answer within 100ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, openSQLite(t))
			rec := &recorder{}
			e.disp.Subscribe(
				&Subscription{Name: "before", Mode: Sync, Signals: []string{"*"}, Timeout: timeout, Receiver: rec.receiver("before", nil)},
				&Subscription{Name: "bad", Mode: Sync, Signals: []string{"*"}, Timeout: timeout, Receiver: rec.receiver("bad", tt.receive)},
				&Subscription{Name: "after", Mode: Sync, Signals: []string{"*"}, Timeout: timeout, Receiver: rec.receiver("after", nil)},
				&Subscription{Name: "queue", Mode: Async, Signals: []string{"*"}, Timeout: timeout,
					Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error { return nil }}},
			)

			id := emitWithin(t, 10*time.Second, func() string {
				return e.disp.Emit(context.Background(), "local", loginFailed("alice"))
			})
			if id == "" {
				t.Fatal("Emit returned no id")
			}
			if got, want := rec.names(), []string{"before", "bad", "after"}; !slices.Equal(got, want) {
				t.Fatalf("sync receivers called: %q, want %q", got, want)
			}
			if got := e.syncFailures("bad", "user_login_failed"); got != 1 {
				t.Errorf(`sync failures{subscriber="bad",signal="user_login_failed"} = %d, want 1`, got)
			}
			for _, good := range []string{"before", "after"} {
				if got := e.syncFailures(good, "user_login_failed"); got != 0 {
					t.Errorf("sync failures of %s = %d, want 0", good, got)
				}
			}
			if rows := e.rows(t); len(rows) != 1 || rows[0].Subscriber != "queue" || rows[0].SignalID != id {
				t.Errorf("outbox = %+v, want one row for queue", rows)
			}
			if log := e.log.String(); !strings.Contains(log, "subscriber=bad") || !strings.Contains(log, tt.wantLog) {
				t.Errorf("log does not name the subscriber and %q:\n%s", tt.wantLog, log)
			}

			// A second signal: the failure is counted again, per signal name.
			emitWithin(t, 10*time.Second, func() string {
				return e.disp.Emit(context.Background(), "local", &signals.UserLoggedIn{UserID: "u1"})
			})
			if got := e.syncFailures("bad", "user_logged_in"); got != 1 {
				t.Errorf(`sync failures{subscriber="bad",signal="user_logged_in"} = %d, want 1`, got)
			}
			if got := e.syncFailures("bad", "user_login_failed"); got != 1 {
				t.Errorf(`sync failures{subscriber="bad",signal="user_login_failed"} = %d after another signal, want still 1`, got)
			}
		})
	}
}

// TestEmitSeveralSyncFailures has every kind of failure in one Emit; each
// is counted once and the last, good receiver still runs.
func TestEmitSeveralSyncFailures(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := &recorder{}
	timeout := 50 * time.Millisecond
	e.disp.Subscribe(
		&Subscription{Name: "err", Mode: Sync, Signals: []string{"*"}, Timeout: timeout,
			Receiver: rec.receiver("err", func(context.Context, *sdk.Signal) error { return errors.New("no") })},
		&Subscription{Name: "panic", Mode: Sync, Signals: []string{"*"}, Timeout: timeout,
			Receiver: rec.receiver("panic", func(context.Context, *sdk.Signal) error { panic("boom") })},
		&Subscription{Name: "slow", Mode: Sync, Signals: []string{"*"}, Timeout: timeout,
			Receiver: rec.receiver("slow", func(ctx context.Context, _ *sdk.Signal) error { <-ctx.Done(); return ctx.Err() })},
		&Subscription{Name: "ok", Mode: Sync, Signals: []string{"*"}, Timeout: timeout, Receiver: rec.receiver("ok", nil)},
	)
	emitWithin(t, 10*time.Second, func() string {
		return e.disp.Emit(context.Background(), "local", loginFailed("alice"))
	})
	if got, want := rec.names(), []string{"err", "panic", "slow", "ok"}; !slices.Equal(got, want) {
		t.Fatalf("sync receivers called: %q, want %q", got, want)
	}
	for sub, want := range map[string]uint64{"err": 1, "panic": 1, "slow": 1, "ok": 0} {
		if got := e.syncFailures(sub, "user_login_failed"); got != want {
			t.Errorf("sync failures of %s = %d, want %d", sub, got, want)
		}
	}
}

// TestEmitSyncReceiverIgnoringItsDeadline: a receiver that blocks without
// watching its context must not hold up the caller past its Timeout, nor
// keep later sync receivers from running (the package documentation: "one
// that fails, panics or is too slow is isolated ... and never changes the
// caller's answer").
func TestEmitSyncReceiverIgnoringItsDeadline(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := &recorder{}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.disp.Subscribe(
		&Subscription{Name: "stuck", Mode: Sync, Signals: []string{"*"}, Timeout: 50 * time.Millisecond,
			Receiver: rec.receiver("stuck", func(context.Context, *sdk.Signal) error { <-release; return nil })},
		&Subscription{Name: "after", Mode: Sync, Signals: []string{"*"}, Timeout: 50 * time.Millisecond,
			Receiver: rec.receiver("after", nil)},
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.disp.Emit(context.Background(), "local", loginFailed("alice"))
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Emit is still blocked 3s after a sync receiver's 50ms timeout")
	}
	if got := rec.names(); !slices.Equal(got, []string{"stuck", "after"}) {
		t.Fatalf("sync receivers called: %q", got)
	}
	if got := e.syncFailures("stuck", "user_login_failed"); got != 1 {
		t.Fatalf("sync failures of stuck = %d, want 1", got)
	}
}

// emitWithin runs emit and fails the test if it has not returned within
// limit (a generous bound: the point is that it returns at all).
func emitWithin(t *testing.T, limit time.Duration, emit func() string) string {
	t.Helper()
	got := make(chan string, 1)
	go func() { got <- emit() }()
	select {
	case id := <-got:
		return id
	case <-time.After(limit):
		t.Fatalf("Emit did not return within %s", limit)
		return ""
	}
}

// TestEmitOutlivesTheRequest: a request whose context has ended still has
// its signal delivered to sync receivers (each with its own deadline) and
// queued for async ones.
func TestEmitOutlivesTheRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		rec := &recorder{}
		e.disp.Subscribe(
			&Subscription{Name: "sync", Mode: Sync, Signals: []string{"*"}, Timeout: 5 * time.Second, Receiver: rec.receiver("sync", nil)},
			&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("async", nil)},
		)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		id := e.disp.Emit(ctx, "local", loginFailed("alice"))

		calls := rec.of("sync")
		if len(calls) != 1 {
			t.Fatalf("sync receiver called %d times, want 1", len(calls))
		}
		if calls[0].ctxErr != nil {
			t.Errorf("sync receiver got a context already ended: %v", calls[0].ctxErr)
		}
		if d := calls[0].deadline; d <= 0 || d > 5*time.Second {
			t.Errorf("sync receiver's deadline is %s ahead, want within its 5s Timeout", d)
		}
		if got := e.syncFailures("sync", "user_login_failed"); got != 0 {
			t.Errorf("sync failures = %d, want 0", got)
		}
		rows := e.rows(t)
		if len(rows) != 1 || rows[0].SignalID != id || rows[0].Subscriber != "async" {
			t.Fatalf("outbox = %+v, want one row for the cancelled request's signal", rows)
		}
		if got := e.reg.Counter("portcullis_signal_enqueue_errors_total", "").Value("user_login_failed"); got != 0 {
			t.Errorf("enqueue errors = %d, want 0", got)
		}
	})
}

// TestEmitSignalFields checks what every signal carries: a UUID, a UTC time
// in milliseconds, the sender and the encoded arguments, the same for sync
// receivers and outbox rows.
func TestEmitSignalFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store)
		paris := time.FixedZone("CEST", 2*60*60)
		e.disp.now = func() time.Time { return time.Date(2031, 7, 14, 12, 30, 45, 123456789, paris) }
		rec := &recorder{}
		e.disp.Subscribe(
			&Subscription{Name: "sync", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("sync", nil)},
			&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("async", nil)},
		)
		args := loginFailed("alice")
		id := e.disp.Emit(context.Background(), "ldap", args)

		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 4 || u.String() != id {
			t.Fatalf("id %q is not a canonical random UUID (%v)", id, err)
		}
		wantTime := time.Date(2031, 7, 14, 10, 30, 45, 123000000, time.UTC)
		wantArgs, _ := json.Marshal(args)

		calls := rec.of("sync")
		if len(calls) != 1 {
			t.Fatalf("sync receiver called %d times", len(calls))
		}
		sig := calls[0].sig
		if sig.ID != id || sig.Name != "user_login_failed" || sig.Sender != "ldap" || sig.Origin != OriginHost {
			t.Errorf("sync receiver got %+v, want the host's user_login_failed from ldap", sig)
		}
		if !sig.Time.Equal(wantTime) || sig.Time.Location() != time.UTC {
			t.Errorf("signal time = %v (%v), want %v in UTC", sig.Time, sig.Time.Location(), wantTime)
		}
		if string(sig.Args) != string(wantArgs) {
			t.Errorf("signal args = %s, want %s", sig.Args, wantArgs)
		}
		var back signals.UserLoginFailed
		if err := signals.Decode(&sig, &back); err != nil || back != *args {
			t.Errorf("decoding the args: %+v, %v; want %+v", back, err, *args)
		}

		rows := e.rows(t)
		if len(rows) != 1 {
			t.Fatalf("outbox has %d rows", len(rows))
		}
		r := rows[0]
		if r.SignalID != id || r.Name != "user_login_failed" || r.Sender != "ldap" || r.Origin != OriginHost || !r.Time.Equal(wantTime) {
			t.Errorf("outbox row = %+v, want id %s, sender ldap, origin host, time %v", r, id, wantTime)
		}
		if string(r.Args) != string(wantArgs) {
			t.Errorf("outbox args = %s, want %s", r.Args, wantArgs)
		}
	})
}

func TestEmitIDsAndTimesWithTheRealClock(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := &recorder{}
	e.disp.Subscribe(&Subscription{Name: "s", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("s", nil)})
	seen := map[string]bool{}
	for range 20 {
		before := time.Now().Truncate(time.Millisecond)
		id := e.disp.Emit(context.Background(), "local", loginFailed("x"))
		after := time.Now()
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
		calls := rec.all()
		got := calls[len(calls)-1].sig
		if got.Time.Location() != time.UTC || got.Time.Before(before) || got.Time.After(after) {
			t.Fatalf("signal time %v, want UTC between %v and %v", got.Time, before, after)
		}
		if got.Time.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("signal time %v is finer than milliseconds (the outbox keeps milliseconds)", got.Time)
		}
	}
}

// TestEmitFromPlugin checks what a plugin may emit: catalogue names with exactly
// their documented arguments, and custom names of the documented form with
// a JSON object. Anything else is refused and changes nothing.
func TestEmitFromPlugin(t *testing.T) {
	long63 := "a" + strings.Repeat("b", 62)
	tests := []struct {
		name     string
		signal   string
		args     string
		wantErr  bool
		wantArgs string // for accepted signals: the arguments as stored
	}{
		// catalogue
		{name: "catalogue: all documented fields", signal: "user_login_failed",
			args:     `{"username":"alice","client_ip":"192.0.2.1","user_agent":"ua","backend":"local","reason":"invalid_credentials","request_id":"r","path":"/login"}`,
			wantArgs: `{"username":"alice","client_ip":"192.0.2.1","user_agent":"ua","backend":"local","reason":"invalid_credentials","request_id":"r","path":"/login"}`},
		{name: "catalogue: some fields, normalised to all", signal: "user_login_failed",
			args:     `{"username":"alice"}`,
			wantArgs: `{"username":"alice","client_ip":"","user_agent":"","backend":"","reason":"","request_id":"","path":""}`},
		{name: "catalogue: no fields", signal: "admin_auth_initialized", args: `{}`, wantArgs: `{}`},
		{name: "catalogue: embedded struct fields", signal: "authorization_granted",
			args:     `{"authorization_request_id":"ar1","slug":"deploy","user_id":"u1","backend":"local"}`,
			wantArgs: `{"authorization_request_id":"ar1","slug":"deploy","user_id":"u1","backend":"local"}`},
		{name: "catalogue: omitempty fields left out", signal: "lockout_reset", args: `{"backend":"lockout","removed":3}`, wantArgs: `{"backend":"lockout","removed":3}`},
		{name: "catalogue: unknown field", signal: "user_login_failed", args: `{"username":"alice","password":"hunter2"}`, wantErr: true},
		{name: "catalogue: only an unknown field", signal: "admin_auth_initialized", args: `{"x":1}`, wantErr: true},
		{name: "catalogue: field of another signal", signal: "user_logged_out", args: `{"user_id":"u","reason":"x"}`, wantErr: true},
		{name: "catalogue: wrong type", signal: "user_locked_out", args: `{"failures":"three"}`, wantErr: true},
		{name: "catalogue: an array", signal: "user_login_failed", args: `[]`, wantErr: true},
		{name: "catalogue: a string", signal: "user_login_failed", args: `"alice"`, wantErr: true},
		{name: "catalogue: empty", signal: "user_login_failed", args: ``, wantErr: true},
		{name: "catalogue: invalid JSON", signal: "user_login_failed", args: `{"username":`, wantErr: true},
		// custom names
		{name: "custom: dotted name", signal: "acme.user.exported", args: `{"n":1}`, wantArgs: `{"n":1}`},
		{name: "custom: digits and underscores", signal: "a1_b2.c3", args: `{}`, wantArgs: `{}`},
		{name: "custom: one letter", signal: "a", args: `{"nested":{"x":[1,2]}}`, wantArgs: `{"nested":{"x":[1,2]}}`},
		{name: "custom: 63 characters", signal: long63, args: `{}`, wantArgs: `{}`},
		{name: "custom: 64 characters", signal: long63 + "c", args: `{}`, wantErr: true},
		{name: "custom: empty name", signal: "", args: `{}`, wantErr: true},
		{name: "custom: upper case", signal: "Acme.thing", args: `{}`, wantErr: true},
		{name: "custom: leading digit", signal: "1acme", args: `{}`, wantErr: true},
		{name: "custom: leading underscore", signal: "_acme", args: `{}`, wantErr: true},
		{name: "custom: leading dot", signal: ".acme", args: `{}`, wantErr: true},
		{name: "custom: hyphen", signal: "acme-thing", args: `{}`, wantErr: true},
		{name: "custom: space", signal: "acme thing", args: `{}`, wantErr: true},
		{name: "custom: trailing newline", signal: "acme\n", args: `{}`, wantErr: true},
		{name: "custom: wildcard", signal: "*", args: `{}`, wantErr: true},
		{name: "custom: non-ASCII letter", signal: "acmé", args: `{}`, wantErr: true},
		{name: "custom: args an array", signal: "acme.thing", args: `[{"n":1}]`, wantErr: true},
		{name: "custom: args a string", signal: "acme.thing", args: `"x"`, wantErr: true},
		{name: "custom: args a number", signal: "acme.thing", args: `1`, wantErr: true},
		{name: "custom: args null", signal: "acme.thing", args: `null`, wantErr: true},
		{name: "custom: args empty", signal: "acme.thing", args: ``, wantErr: true},
		{name: "custom: args invalid JSON", signal: "acme.thing", args: `{"n":}`, wantErr: true},
		{name: "custom: args two objects", signal: "acme.thing", args: `{}{}`, wantErr: true},
		{name: "custom: args an object then garbage", signal: "acme.thing", args: `{"n":1} x`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, openSQLite(t))
			rec := &recorder{}
			e.disp.Subscribe(
				&Subscription{Name: "sync", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("sync", nil)},
				&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("async", nil)},
			)
			var args json.RawMessage
			if tt.args != "" {
				args = json.RawMessage(tt.args)
			}
			id, err := e.disp.EmitFromPlugin(context.Background(), tt.signal, "plugin-x", args)
			emitted := e.reg.Counter("portcullis_signals_emitted_total", "").Value(tt.signal)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("EmitFromPlugin(%q, %s) = %q, nil; want an error", tt.signal, tt.args, id)
				}
				if !errors.Is(err, ErrBadSignal) || !errors.Is(err, sdk.ErrInvalidArgument) {
					t.Errorf("error %v does not wrap ErrBadSignal and sdk.ErrInvalidArgument", err)
				}
				if id != "" {
					t.Errorf("refused signal got id %q", id)
				}
				if calls := rec.all(); len(calls) != 0 {
					t.Errorf("refused signal reached %d sync receivers", len(calls))
				}
				if rows := e.rows(t); len(rows) != 0 {
					t.Errorf("refused signal was queued: %+v", rows)
				}
				if emitted != 0 {
					t.Errorf("refused signal counted as emitted: %d", emitted)
				}
				select {
				case <-e.disp.queued:
					t.Error("a refused signal woke the deliverer")
				default:
				}
				return
			}
			if err != nil {
				t.Fatalf("EmitFromPlugin(%q, %s): %v", tt.signal, tt.args, err)
			}
			if _, perr := uuid.Parse(id); perr != nil {
				t.Errorf("id %q: %v", id, perr)
			}
			calls := rec.all()
			if len(calls) != 1 || calls[0].sig.ID != id || calls[0].sig.Name != tt.signal || calls[0].sig.Sender != "plugin-x" || calls[0].sig.Origin != OriginPlugin {
				t.Fatalf("sync receiver calls = %+v", calls)
			}
			if got := string(calls[0].sig.Args); got != tt.wantArgs {
				t.Errorf("sync receiver args = %s, want %s", got, tt.wantArgs)
			}
			rows := e.rows(t)
			if len(rows) != 1 || rows[0].SignalID != id || rows[0].Name != tt.signal || rows[0].Sender != "plugin-x" || rows[0].Origin != OriginPlugin {
				t.Fatalf("outbox = %+v, want one row from plugin-x with origin plugin", rows)
			}
			if got := string(rows[0].Args); got != tt.wantArgs {
				t.Errorf("queued args = %s, want %s", got, tt.wantArgs)
			}
			if emitted != 1 {
				t.Errorf("emitted counter = %d, want 1", emitted)
			}
		})
	}
}

// TestEmitFromPluginCatalogueRejectsTrailingData: a catalogue signal's arguments
// must be exactly one JSON object, like a custom signal's: nothing after it,
// and not null or another JSON value instead of it.
func TestEmitFromPluginCatalogueRejectsTrailingData(t *testing.T) {
	tests := []struct {
		name string
		args string
	}{
		{"two objects", `{"username":"alice"}{"password":"hunter2"}`},
		{"object then garbage", `{"username":"alice"} not json`},
		{"object then an unknown field's worth", `{"username":"alice"},"password":"hunter2"}`},
		{"null", `null`},
		{"null with spaces", ` null `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, openSQLite(t))
			e.disp.Subscribe(&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second,
				Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error { return nil }}})
			id, err := e.disp.EmitFromPlugin(context.Background(), "user_login_failed", "plugin-x", json.RawMessage(tt.args))
			if !errors.Is(err, ErrBadSignal) {
				t.Fatalf("EmitFromPlugin(user_login_failed, %s) = %q, %v; want ErrBadSignal", tt.args, id, err)
			}
			if rows := e.rows(t); len(rows) != 0 {
				t.Fatalf("queued: %+v", rows)
			}
		})
	}
}

// TestEmitWhenTheOutboxFails: a signal that cannot be queued is counted and
// logged, sync receivers still get it, and Emit still answers.
func TestEmitWhenTheOutboxFails(t *testing.T) {
	store := openSQLite(t)
	e := newEnv(t, store)
	rec := &recorder{}
	e.disp.Subscribe(
		&Subscription{Name: "async", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("async", nil)},
		&Subscription{Name: "sync", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: rec.receiver("sync", nil)},
	)
	if err := store.Close(); err != nil { // the database goes away
		t.Fatal(err)
	}
	id := emitWithin(t, 10*time.Second, func() string {
		return e.disp.Emit(context.Background(), "local", loginFailed("alice"))
	})
	if id == "" {
		t.Fatal("Emit returned no id")
	}
	if got := rec.names(); !slices.Equal(got, []string{"sync"}) {
		t.Errorf("receivers called: %q, want the sync one", got)
	}
	if got := e.reg.Counter("portcullis_signal_enqueue_errors_total", "").Value("user_login_failed"); got != 1 {
		t.Errorf("enqueue errors = %d, want 1", got)
	}
	if log := e.log.String(); !strings.Contains(log, "signal lost") || !strings.Contains(log, id) {
		t.Errorf("the lost signal is not logged with its id:\n%s", log)
	}
	select {
	case <-e.disp.queued:
		t.Error("the deliverer was woken for a signal that was not queued")
	default:
	}
}
