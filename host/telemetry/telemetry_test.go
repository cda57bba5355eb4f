package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

func TestOffCostsNothing(t *testing.T) {
	tr, err := Start(context.Background(), Options{})
	if err != nil || tr != nil {
		t.Fatalf("Start without an endpoint = %v, %v; want nil (off)", tr, err)
	}
	if tr.On() || tr.PluginEnv("local") != nil || tr.Shutdown(context.Background()) != nil {
		t.Error("off tracing is on, passes plugins settings, or fails to shut down")
	}
	if _, ok := tr.Provider().(noop.TracerProvider); !ok {
		t.Errorf("off tracing's provider is %T, want the no-op one", tr.Provider())
	}
	log := slog.New(slog.DiscardHandler)
	if tr.Logger(log) != log {
		t.Error("off tracing changes the logger")
	}
	if _, ok := Recording(context.Background(), "x"); ok {
		t.Error("Recording outside any span reports a span")
	}
}

func TestPluginEnvNamesThePlugin(t *testing.T) {
	tr, err := Start(context.Background(), Options{Endpoint: "http://127.0.0.1:4318", Protocol: hostside.TraceProtocolHTTP, SampleRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	env := tr.PluginEnv("local")
	for _, want := range []string{"OTEL_SERVICE_NAME=portcullis-plugin-local", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_TRACES_SAMPLER_ARG=0.5"} {
		if !slices.Contains(env, want) {
			t.Errorf("plugin environment %q lacks %q", env, want)
		}
	}
}

func TestLogLinesCarryTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), Attributes{})
	var out bytes.Buffer
	log := tr.Logger(slog.New(slog.NewJSONHandler(&out, nil))).With("request_id", "r1")
	ctx, span := tr.Provider().Tracer("test").Start(context.Background(), "portcullis.login")
	defer span.End()

	read := func() map[string]any {
		t.Helper()
		var line map[string]any
		if err := json.Unmarshal(out.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, out.Bytes())
		}
		out.Reset()
		return line
	}
	log.InfoContext(ctx, "inside")
	line := read()
	if line["trace_id"] != span.SpanContext().TraceID().String() || line["span_id"] != span.SpanContext().SpanID().String() || line["request_id"] != "r1" {
		t.Errorf("line logged inside a span: %v; want its trace_id, span_id and the logger's request_id", line)
	}
	log.Info("outside")
	if line := read(); line["trace_id"] != nil || line["span_id"] != nil {
		t.Errorf("line logged without a context: %v; want no trace ids", line)
	}
}
