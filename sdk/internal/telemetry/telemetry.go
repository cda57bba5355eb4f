// Package telemetry is the tracing both sides of the plugin protocol share:
// the settings the host hands each plugin process through its environment,
// the OTLP exporter and tracer provider built from them, and the gRPC stats
// handlers that carry a trace across the hop between the two processes.
//
// The environment uses OpenTelemetry's own variable names, so that a
// library inside a plugin that reads them agrees with the SDK. The host
// passes them only when tracing is on; a plugin without them sets up
// nothing and pays nothing.
package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The environment variables the host sets for a plugin process when
// tracing is on.
const (
	EnvEndpoint    = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvProtocol    = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvInsecure    = "OTEL_EXPORTER_OTLP_INSECURE"
	EnvSampler     = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg  = "OTEL_TRACES_SAMPLER_ARG"
	EnvServiceName = "OTEL_SERVICE_NAME"
)

// PassThrough are the exporter's variables the host hands on to its plugins
// when they are set in its own environment (and tracing is on): what the
// configuration does not cover (a collector's credentials and CA, resource
// attributes such as deployment.environment), which the host's own
// exporter reads from the same variables.
var PassThrough = []string{
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_RESOURCE_ATTRIBUTES",
}

// The protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// samplerParentRatio is the OTEL_TRACES_SAMPLER value of the sampler both
// sides use: a span with a parent follows its parent's decision, a root is
// kept with the ratio's probability.
const samplerParentRatio = "parentbased_traceidratio"

// Settings say where and how a process exports its spans.
type Settings struct {
	// Endpoint is the collector's base URL (http:// or https://), as
	// OTEL_EXPORTER_OTLP_ENDPOINT: over HTTP the exporter posts to
	// /v1/traces under it; over gRPC only its host and port count. An
	// http:// URL exports in plaintext.
	Endpoint string
	// Protocol is ProtocolGRPC or ProtocolHTTP.
	Protocol string
	// SampleRatio is the share of new traces kept, from 0 to 1.
	SampleRatio float64
	// ServiceName is the process's service.name.
	ServiceName string
}

// Env returns the settings as a plugin process's environment variables,
// with those of PassThrough that lookup finds.
func (s Settings) Env(lookup func(string) (string, bool)) []string {
	u, _ := url.Parse(s.Endpoint)
	insecure := u != nil && u.Scheme == "http"
	env := []string{
		EnvEndpoint + "=" + s.Endpoint,
		EnvProtocol + "=" + s.Protocol,
		EnvInsecure + "=" + strconv.FormatBool(insecure),
		EnvSampler + "=" + samplerParentRatio,
		EnvSamplerArg + "=" + strconv.FormatFloat(s.SampleRatio, 'g', -1, 64),
		EnvServiceName + "=" + s.ServiceName,
	}
	for _, k := range PassThrough {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// FromEnv reads the settings the host passed; ok is false when it passed
// none (tracing is off). A value it cannot use is an error: the host never
// writes one.
func FromEnv(lookup func(string) (string, bool)) (s Settings, ok bool, err error) {
	endpoint, ok := lookup(EnvEndpoint)
	if !ok || endpoint == "" {
		return Settings{}, false, nil
	}
	s = Settings{Endpoint: endpoint, Protocol: ProtocolGRPC, SampleRatio: 1}
	if p, ok := lookup(EnvProtocol); ok && p != "" {
		s.Protocol = p
	}
	if v, ok := lookup(EnvSamplerArg); ok && v != "" {
		if s.SampleRatio, err = strconv.ParseFloat(v, 64); err != nil || s.SampleRatio < 0 || s.SampleRatio > 1 {
			return Settings{}, false, fmt.Errorf("%s=%q: not a ratio from 0 to 1", EnvSamplerArg, v)
		}
	}
	if v, ok := lookup(EnvSampler); ok && v != "" && v != samplerParentRatio {
		return Settings{}, false, fmt.Errorf("%s=%q: only %s is understood", EnvSampler, v, samplerParentRatio)
	}
	s.ServiceName, _ = lookup(EnvServiceName)
	if _, err := s.exporterURL(); err != nil {
		return Settings{}, false, err
	}
	return s, true, nil
}

// exporterURL is the URL the exporter is given: over HTTP the base URL with
// /v1/traces added to its path, as the OTLP specification has it for
// OTEL_EXPORTER_OTLP_ENDPOINT.
func (s Settings) exporterURL() (string, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("OTLP endpoint %q: not an http:// or https:// URL", s.Endpoint)
	}
	switch s.Protocol {
	case ProtocolGRPC:
	case ProtocolHTTP:
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	default:
		return "", fmt.Errorf("OTLP protocol %q: not %s or %s", s.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	return u.String(), nil
}

// exportTimeout bounds one export, so that a collector that does not answer
// holds a flush at exit for no longer.
const exportTimeout = 5 * time.Second

// NewProvider returns a tracer provider that batches the spans it keeps
// and exports them as the settings say, with service.name and attrs as its
// resource. The exporter connects lazily: a collector that is down loses
// spans, never a login. The caller shuts the provider down to flush it.
func NewProvider(ctx context.Context, s Settings, attrs ...attribute.KeyValue) (*sdktrace.TracerProvider, error) {
	target, err := s.exporterURL()
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if s.Protocol == ProtocolHTTP {
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(target), otlptracehttp.WithTimeout(exportTimeout))
	} else {
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(target), otlptracegrpc.WithTimeout(exportTimeout))
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// Schemaless, so that merging with the default resource (the SDK's
	// attributes, OTEL_RESOURCE_ATTRIBUTES) cannot fail on a schema
	// mismatch; service.name is this process's whatever the environment
	// says.
	own := resource.NewSchemaless(append([]attribute.KeyValue{semconv.ServiceName(s.ServiceName)}, attrs...)...)
	res, err := resource.Merge(resource.Default(), own)
	if err != nil {
		res = own
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.SampleRatio))),
	), nil
}
