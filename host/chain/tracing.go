package chain

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/sdk"
)

// scope is the instrumentation scope of the chain's spans.
const scope = "github.com/portcullis-auth/portcullis/host/chain"

// The attributes of a link's span (docs/tracing.md).
const (
	attrBackend  = attribute.Key("portcullis.backend")
	attrKind     = attribute.Key("portcullis.backend.kind")
	attrDecision = attribute.Key("portcullis.backend.decision")
	attrReason   = attribute.Key("portcullis.backend.reason")
	attrSkipped  = attribute.Key("portcullis.backend.skipped")
	attrErrType  = attribute.Key("error.type")
)

// linkSpan starts the span of one link's turn in a login,
// "portcullis.backend NAME", when the login's own span records; span is
// nil otherwise, and so is its cost.
func linkSpan(ctx context.Context, l *Link) (context.Context, trace.Span) {
	tr, ok := telemetry.Recording(ctx, scope)
	if !ok {
		return ctx, nil
	}
	kind := "authenticator"
	if l.Limiter != nil {
		kind = "limiter"
	}
	return tr.Start(ctx, "portcullis.backend "+l.Name, trace.WithAttributes(attrBackend.String(l.Name), attrKind.String(kind)))
}

// endLimiterSpan ends a limiter link's span with its verdict: allow, deny
// (with the refusal's reason) or busy.
func endLimiterSpan(span trace.Span, v limiter.Verdict, err error) {
	if span == nil {
		return
	}
	switch {
	case err != nil:
		failed(span, err)
	case v.Busy:
		span.SetAttributes(attrDecision.String("busy"))
	case v.Refusal != nil:
		span.SetAttributes(attrDecision.String("deny"), attrReason.String(v.Refusal.Reason))
	default:
		span.SetAttributes(attrDecision.String("allow"))
	}
	span.End()
}

// endCallSpan ends an authenticator link's span with the backend's
// decision and reason code, or its failure (skipped when on_error: skip
// took it as an abstain).
func endCallSpan(span trace.Span, resp sdk.AuthenticateResponse, err error, skipped bool) {
	if span == nil {
		return
	}
	switch {
	case err != nil:
		failed(span, err)
		if skipped {
			span.SetAttributes(attrSkipped.Bool(true))
		}
	case resp.Reason != "":
		span.SetAttributes(attrDecision.String(resp.Decision.String()), attrReason.String(resp.Reason))
	default:
		span.SetAttributes(attrDecision.String(resp.Decision.String()))
	}
	span.End()
}

// failed marks span as failed with the kind of error alone: a backend's
// message may quote what the user sent.
func failed(span trace.Span, err error) {
	kind := "backend_error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	case errors.Is(err, sdk.ErrUnavailable):
		kind = "unavailable"
	}
	span.SetAttributes(attrErrType.String(kind))
	span.SetStatus(codes.Error, kind)
}
