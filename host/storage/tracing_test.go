package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
)

// TestStatementSpans runs statements inside a recording span and outside
// any: inside, each gets a child span that names its operation and table
// and holds none of its arguments; outside, none.
func TestStatementSpans(t *testing.T) {
	for _, db := range []struct{ driver, system string }{{storage.SQLite, "sqlite"}, {storage.Postgres, "postgresql"}} {
		t.Run(db.driver, func(t *testing.T) {
			dsn := storagetest.SQLitePath(t)
			if db.driver == storage.Postgres {
				dsn = storagetest.PostgresDSN(t)
			}
			store := storagetest.Open(t, db.driver, dsn)
			const planted = "zelda-planted"
			if _, err := store.CreateUser(context.Background(), planted, "$planted-hash$"); err != nil {
				t.Fatal(err)
			}

			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			ctx, parent := tp.Tracer("test").Start(context.Background(), "portcullis.login")
			if _, err := store.UserByUsername(ctx, planted); err != nil {
				t.Fatal(err)
			}
			// A statement that fails: its span says so, without the
			// database's message (which names the duplicate value).
			if _, err := store.CreateUser(ctx, planted, "$planted-hash$"); err == nil {
				t.Fatal("a second user of the same name was created")
			}
			parent.End()

			var selects, failed int
			for _, s := range rec.Ended() {
				if s.Name() == "portcullis.login" {
					continue
				}
				if !strings.HasPrefix(s.Name(), "portcullis.storage ") || s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind() != trace.SpanKindClient {
					t.Errorf("span %q (kind %v, parent %s): want portcullis.storage client spans under the login's", s.Name(), s.SpanKind(), s.Parent().SpanID())
				}
				attrs := map[string]string{}
				for _, a := range s.Attributes() {
					attrs[string(a.Key)] = a.Value.Emit()
					if strings.Contains(a.Value.Emit(), planted) || strings.Contains(a.Value.Emit(), "planted-hash") {
						t.Errorf("span %q carries an argument: %s=%s", s.Name(), a.Key, a.Value.Emit())
					}
				}
				if strings.Contains(s.Status().Description, planted) {
					t.Errorf("span %q carries the database's message: %q", s.Name(), s.Status().Description)
				}
				if attrs["db.system.name"] != db.system {
					t.Errorf("span %q: db.system.name %q, want %s", s.Name(), attrs["db.system.name"], db.system)
				}
				if s.Name() == "portcullis.storage SELECT users" && attrs["db.operation.name"] == "SELECT" && attrs["db.collection.name"] == "users" {
					selects++
				}
				if attrs["error.type"] != "" {
					failed++
				}
			}
			if selects == 0 || failed == 0 {
				t.Errorf("%d spans of SELECT users and %d failed statements among %d spans; want both", selects, failed, len(rec.Ended()))
			}

			rec.Reset()
			if _, err := store.UserByUsername(context.Background(), planted); err != nil {
				t.Fatal(err)
			}
			unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec))
			ctx, span := unsampled.Tracer("test").Start(context.Background(), "portcullis.login")
			if _, err := store.UserByUsername(ctx, planted); err != nil {
				t.Fatal(err)
			}
			span.End()
			if n := len(rec.Started()); n != 0 {
				t.Errorf("%d spans for statements outside a recording span; want none", n)
			}
		})
	}
}

// TestCallSpans: a store call that runs a transaction is one span named
// for the call, and its statements make none of their own.
func TestCallSpans(t *testing.T) {
	store := storagetest.Open(t, storage.SQLite, storagetest.SQLitePath(t))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "portcullis.login")
	sess := storage.Session{ID: "s1", Subject: "someone", Username: "someone", ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := store.CreateSession(ctx, sess, storage.Token{ID: "t1", Hash: "h1", Kind: "refresh", Subject: "someone", FamilyID: "s1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var names []string
	for _, s := range rec.Ended() {
		if s.Name() == "portcullis.login" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %q is not the login's child", s.Name())
		}
	}
	if len(names) != 1 || names[0] != "portcullis.storage create_session" {
		t.Errorf("spans %q; want only portcullis.storage create_session", names)
	}
}
