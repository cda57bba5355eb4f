package signals

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.Emit()
	}
	return m
}

// TestSyncDeliverySpans emits inside a recording span: each sync delivery
// gets a child span with its subscriber and result, and the receiver runs
// inside it (a plugin receiver's call carries the trace on).
func TestSyncDeliverySpans(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var inSpan atomic.Bool
	e.disp.Subscribe(
		&Subscription{Name: "ok", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: &fakeReceiver{receive: func(ctx context.Context, _ *sdk.Signal) error {
			inSpan.Store(trace.SpanContextFromContext(ctx).IsValid())
			return nil
		}}},
		&Subscription{Name: "broken", Mode: Sync, Signals: []string{"*"}, Timeout: time.Second, Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error {
			return errors.New("POST https://user:secret@hooks.example.com failed")
		}}},
	)
	ctx, login := tp.Tracer("test").Start(context.Background(), "portcullis.login")
	id := e.disp.Emit(ctx, "local", loginFailed("zelda"))
	login.End()

	results := map[string]string{}
	for _, s := range rec.Ended() {
		if s.Name() != deliverySpanName {
			continue
		}
		a := spanAttrs(s)
		results[a["portcullis.signal.subscriber"]] = a["portcullis.signal.result"]
		if s.Parent().SpanID() != login.SpanContext().SpanID() || a["portcullis.signal.name"] != "user_login_failed" ||
			a["portcullis.signal.id"] != id || a["portcullis.signal.mode"] != "sync" {
			t.Errorf("delivery span %v under %s: want a sync delivery of user_login_failed %s under the login's span", a, s.Parent().SpanID(), id)
		}
		for k, v := range a {
			if strings.Contains(v, "secret") || strings.Contains(v, "zelda") {
				t.Errorf("delivery span %s = %q", k, v)
			}
		}
		if strings.Contains(s.Status().Description, "secret") {
			t.Errorf("delivery span keeps the receiver's error: %q", s.Status().Description)
		}
	}
	if results["ok"] != "delivered" || results["broken"] != "failed" {
		t.Errorf("delivery results %v; want ok delivered, broken failed", results)
	}
	if !inSpan.Load() {
		t.Error("the receiver did not run inside its delivery's span")
	}
}

// TestAsyncAttemptSpans has a subscriber fail once: each attempt is the
// root of a trace of its own, numbered, with its result.
func TestAsyncAttemptSpans(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := tracetest.NewSpanRecorder()
	var calls atomic.Int32
	e.disp.Subscribe(&Subscription{Name: "hook", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: &fakeReceiver{receive: func(context.Context, *sdk.Signal) error {
		if calls.Add(1) == 1 {
			return errors.New("unreachable")
		}
		return nil
	}}})
	e.disp.Emit(context.Background(), "local", loginFailed("zelda"))
	opts := shortOptions()
	opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	run(t, e.newDeliverer(opts))
	waitFor(t, 10*time.Second, "the delivery", func() bool {
		return countState(e.rows(t), storage.DeliveryDelivered) == 1
	})

	var got []string
	for _, s := range rec.Ended() {
		if s.Name() != deliverySpanName {
			continue
		}
		a := spanAttrs(s)
		got = append(got, a["portcullis.signal.attempt"]+":"+a["portcullis.signal.result"])
		if s.Parent().IsValid() || a["portcullis.signal.mode"] != "async" || a["portcullis.signal.subscriber"] != "hook" {
			t.Errorf("attempt span %v with parent %v; want an async attempt for hook, a root", a, s.Parent())
		}
	}
	if strings.Join(got, ",") != "1:failed,2:delivered" {
		t.Errorf("attempt spans %q; want 1:failed,2:delivered", got)
	}
}
