package storage

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/portcullis-auth/portcullis/host/telemetry"
)

// scope is the instrumentation scope of the storage spans.
const scope = "github.com/portcullis-auth/portcullis/host/storage"

// tracingPlugin is a gorm plugin that gives each statement run inside a
// recording span (a login's, say) a child span, "portcullis.storage OP
// TABLE", with the database, the operation and the table: never the
// statement's arguments, which hold usernames, token hashes and addresses.
// Outside a recording span it does nothing but look.
type tracingPlugin struct {
	system attribute.KeyValue // db.system.name
}

func (tracingPlugin) Name() string { return "portcullis:tracing" }

func (p tracingPlugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	return errors.Join(
		cb.Create().Before("*").Register("portcullis:trace_create", p.before),
		cb.Create().After("*").Register("portcullis:traced_create", p.after),
		cb.Query().Before("*").Register("portcullis:trace_query", p.before),
		cb.Query().After("*").Register("portcullis:traced_query", p.after),
		cb.Update().Before("*").Register("portcullis:trace_update", p.before),
		cb.Update().After("*").Register("portcullis:traced_update", p.after),
		cb.Delete().Before("*").Register("portcullis:trace_delete", p.before),
		cb.Delete().After("*").Register("portcullis:traced_delete", p.after),
		cb.Row().Before("*").Register("portcullis:trace_row", p.before),
		cb.Row().After("*").Register("portcullis:traced_row", p.after),
		cb.Raw().Before("*").Register("portcullis:trace_raw", p.before),
		cb.Raw().After("*").Register("portcullis:traced_raw", p.after),
	)
}

// tracedParent keys, in a traced statement's context, the context it had
// before its span: after puts it back, so that a statement run again on
// the same gorm value does not nest under an ended span. named says the
// span was started with its final name and attributes.
type tracedParent struct{ named bool }

func (p tracingPlugin) before(db *gorm.DB) {
	ctx := db.Statement.Context
	if ctx.Value(inCall{}) != nil {
		return // its call's span stands for it
	}
	tr, ok := telemetry.Recording(ctx, scope)
	if !ok {
		return
	}
	// A raw statement's text is known before it runs: its span starts
	// complete, which costs less than naming it afterwards. gorm builds
	// the others' text as it runs them.
	var spanCtx context.Context
	named := db.Statement.SQL.Len() > 0
	if named {
		d := p.describe(db.Statement.SQL.String(), db.Statement.Table)
		spanCtx, _ = tr.Start(ctx, d.name, d.start...)
	} else {
		spanCtx, _ = tr.Start(ctx, "portcullis.storage", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(p.system))
	}
	db.Statement.Context = context.WithValue(spanCtx, tracedParent{named}, ctx)
}

func (p tracingPlugin) after(db *gorm.DB) {
	ctx := db.Statement.Context
	if parent, ok := ctx.Value(tracedParent{true}).(context.Context); ok {
		p.end(db, parent, true)
	} else if parent, ok := ctx.Value(tracedParent{false}).(context.Context); ok {
		p.end(db, parent, false)
	}
}

// end ends the statement's span and puts its context back.
func (p tracingPlugin) end(db *gorm.DB, parent context.Context, named bool) {
	span := trace.SpanFromContext(db.Statement.Context)
	db.Statement.Context = parent
	if !named {
		d := p.describe(db.Statement.SQL.String(), db.Statement.Table)
		span.SetName(d.name)
		span.SetAttributes(d.attrs...)
	}
	if err := db.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		// The database's message may quote a value (a duplicate key's).
		kind := "database_error"
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			kind = "duplicated_key"
		}
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}

// inCall marks the context of a store call traced as one span (callSpan):
// its statements make none of their own.
type inCall struct{}

// callSpan starts the span of a store call that runs several statements
// in one transaction (an attempt's admission, a new session): one span,
// "portcullis.storage NAME", rather than one per statement. Each span
// costs the login it is part of, and what an operator reads is the call;
// the statements of a transaction are not separable anyway. The returned
// function ends the span, with the call's error. Outside a recording span
// it does nothing.
func (s *Store) callSpan(ctx context.Context, name string) (context.Context, func(error)) {
	tr, ok := telemetry.Recording(ctx, scope)
	if !ok {
		return ctx, endNothing
	}
	ctx, span := tr.Start(ctx, "portcullis.storage "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(dbSystem(s.driver), attribute.String("db.operation.name", name)))
	return context.WithValue(ctx, inCall{}, true), func(err error) {
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			span.SetAttributes(attribute.String("error.type", "database_error"))
			span.SetStatus(codes.Error, "database_error")
		}
		span.End()
	}
}

func endNothing(error) {}

// dbSystem is the db.system.name of a driver.
func dbSystem(driver string) attribute.KeyValue {
	if driver == Postgres {
		return attribute.String("db.system.name", "postgresql")
	}
	return attribute.String("db.system.name", "sqlite")
}

var (
	// sqlOperation is a statement's first keyword.
	sqlOperation = regexp.MustCompile(`^\s*([A-Za-z]{1,16})\b`)
	// sqlTable is the first table a statement names.
	sqlTable = regexp.MustCompile(`(?i)\b(?:FROM|INTO|UPDATE)\s+"?([a-z_][a-z0-9_]{0,62})\b`)
)

// description is what a statement's span says of it: its name, its
// operation and table attributes, and the options that start it with them.
type description struct {
	name  string
	attrs []attribute.KeyValue
	start []trace.SpanStartOption
}

// descriptions caches the description of each statement text. The store's
// statements are a fixed set; past maxDescriptions (statements with lists
// of a new length, say) a statement is described anew each time.
var descriptions struct {
	sync.RWMutex
	m map[[3]string]description
}

const maxDescriptions = 1024

// describe names a statement's operation and table from its text (the
// SQL, with placeholders for its values) and gorm's table, if known.
func (p tracingPlugin) describe(sql, table string) description {
	key := [3]string{p.system.Value.AsString(), sql, table}
	descriptions.RLock()
	d, ok := descriptions.m[key]
	descriptions.RUnlock()
	if ok {
		return d
	}
	op := "QUERY"
	if m := sqlOperation.FindStringSubmatch(sql); m != nil {
		op = strings.ToUpper(m[1])
	}
	if table == "" {
		if m := sqlTable.FindStringSubmatch(sql); m != nil {
			table = m[1]
		}
	}
	d = description{name: "portcullis.storage " + op, attrs: []attribute.KeyValue{attribute.String("db.operation.name", op)}}
	if table != "" {
		d.name += " " + table
		d.attrs = append(d.attrs, attribute.String("db.collection.name", table))
	}
	d.start = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(append([]attribute.KeyValue{p.system}, d.attrs...)...)}
	descriptions.Lock()
	if descriptions.m == nil {
		descriptions.m = map[[3]string]description{}
	}
	if len(descriptions.m) < maxDescriptions {
		descriptions.m[key] = d
	}
	descriptions.Unlock()
	return d
}
