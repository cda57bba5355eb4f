package chain

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TestLinkSpans runs a login inside a recording span: each link asked gets
// a child span with its decision and reason, a failure its kind alone.
func TestLinkSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := New(nil,
		Link{Name: "flaky", Authenticator: failing(errors.New("lookup of zelda failed")), SkipErrors: true, Timeout: time.Second},
		Link{Name: "gate", Authenticator: abstain("not_mine"), Timeout: time.Second},
		Link{Name: "local", Authenticator: grant("s1"), Timeout: time.Second},
	)
	ctx, login := tp.Tracer("test").Start(context.Background(), "portcullis.login")
	if res := c.Run(ctx, &sdk.AuthenticateRequest{Username: "zelda", Password: "pw"}).Result; res.Outcome != Success {
		t.Fatalf("outcome %v, want success", res.Outcome)
	}
	login.End()

	want := map[string]map[string]string{
		"portcullis.backend flaky": {"portcullis.backend": "flaky", "portcullis.backend.kind": "authenticator", "error.type": "backend_error", "portcullis.backend.skipped": "true"},
		"portcullis.backend gate":  {"portcullis.backend.decision": "abstain", "portcullis.backend.reason": "not_mine"},
		"portcullis.backend local": {"portcullis.backend.decision": "identity"},
	}
	for _, s := range rec.Ended() {
		if s.Name() == "portcullis.login" {
			continue
		}
		attrs, ok := want[s.Name()]
		if !ok {
			t.Errorf("unexpected span %q", s.Name())
			continue
		}
		delete(want, s.Name())
		if s.Parent().SpanID() != login.SpanContext().SpanID() {
			t.Errorf("span %q is not a child of the login's", s.Name())
		}
		got := map[string]string{}
		for _, a := range s.Attributes() {
			got[string(a.Key)] = a.Value.Emit()
		}
		for k, v := range attrs {
			if got[k] != v {
				t.Errorf("span %q: %s = %q, want %q", s.Name(), k, got[k], v)
			}
		}
		if strings.Contains(s.Status().Description, "zelda") {
			t.Errorf("span %q keeps the backend's message: %q", s.Name(), s.Status().Description)
		}
		if _, failed := attrs["error.type"]; failed != (s.Status().Code == codes.Error) {
			t.Errorf("span %q: status %v", s.Name(), s.Status())
		}
	}
	for name := range want {
		t.Errorf("no span %q", name)
	}

	// Outside a recording span the chain makes none.
	rec.Reset()
	c.Run(context.Background(), &sdk.AuthenticateRequest{Username: "zelda", Password: "pw"})
	if n := len(rec.Started()); n != 0 {
		t.Errorf("%d spans for a login outside any trace; want none", n)
	}
}
