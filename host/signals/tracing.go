package signals

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/host/telemetry"
	"github.com/portcullis-auth/portcullis/sdk"
)

// scope is the instrumentation scope of the delivery spans.
const scope = "github.com/portcullis-auth/portcullis/host/signals"

// deliverySpanName names the span of one delivery attempt to one
// subscriber (docs/tracing.md).
const deliverySpanName = "portcullis.signal.deliver"

func deliveryAttrs(sub *Subscription, sig *sdk.Signal) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("portcullis.signal.name", sig.Name),
		attribute.String("portcullis.signal.id", sig.ID),
		attribute.String("portcullis.signal.subscriber", sub.Name),
		attribute.String("portcullis.signal.mode", string(sub.Mode)),
	}
}

// syncSpan starts the span of a sync delivery, inside the span of what
// emitted the signal (a login's) when that span records.
func syncSpan(ctx context.Context, sub *Subscription, sig *sdk.Signal) (context.Context, trace.Span) {
	tr, ok := telemetry.Recording(ctx, scope)
	if !ok {
		return ctx, nil
	}
	return tr.Start(ctx, deliverySpanName, trace.WithAttributes(deliveryAttrs(sub, sig)...))
}

// asyncSpan starts the span of an attempt at an async delivery. It is the
// root of a trace of its own: the delivery runs later, often on another
// host, than the request that emitted the signal.
func (d *Deliverer) asyncSpan(ctx context.Context, sub *Subscription, sig *sdk.Signal, attempt int) (context.Context, trace.Span) {
	if d.opts.TracerProvider == nil {
		return ctx, nil
	}
	attrs := append(deliveryAttrs(sub, sig), attribute.Int("portcullis.signal.attempt", attempt))
	return d.opts.TracerProvider.Tracer(scope).Start(ctx, deliverySpanName, trace.WithNewRoot(), trace.WithAttributes(attrs...))
}

// endDeliverySpan ends a delivery's span with its result: delivered,
// failed, or dead (failed for the last time). The receiver's error is not
// recorded: a webhook's may quote its URL and its secrets.
func endDeliverySpan(span trace.Span, err error, dead bool) {
	if span == nil {
		return
	}
	result := "delivered"
	if err != nil {
		result = "failed"
		if dead {
			result = "dead"
		}
		kind := "receiver_error"
		if errors.Is(err, context.DeadlineExceeded) {
			kind = "timeout"
		}
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.SetAttributes(attribute.String("portcullis.signal.result", result))
	span.End()
}
