package config

import (
	"fmt"
	"net/url"
)

// Telemetry configures OpenTelemetry tracing (docs/tracing.md). It is off
// unless OTLPEndpoint is set.
type Telemetry struct {
	// OTLPEndpoint is the collector's base URL, as
	// OTEL_EXPORTER_OTLP_ENDPOINT: http(s)://host:port, to which the
	// host and its plugin processes export their spans.
	OTLPEndpoint string `json:"otlp_endpoint"`
	// Protocol is grpc (the default) or http (OTLP/HTTP with protobuf,
	// posted to /v1/traces under the endpoint).
	Protocol string `json:"protocol"`
	// SampleRatio is the share of new traces kept, from 0 to 1 (default
	// 1). A trace continued from a trusted proxy keeps the proxy's
	// decision.
	SampleRatio *float64 `json:"sample_ratio"`
	// Insecure must be set to export to an http:// endpoint, in plaintext.
	Insecure bool `json:"insecure"`
	// Attributes allow facts about the user in spans; none by default.
	Attributes TelemetryAttributes `json:"attributes"`
}

// TelemetryAttributes say which facts about the user a span may carry.
type TelemetryAttributes struct {
	// Usernames adds the login's username to its span.
	Usernames bool `json:"usernames"`
	// ClientIPs adds the end user's address to its span.
	ClientIPs bool `json:"client_ips"`
}

// The values of telemetry.protocol.
const (
	TelemetryGRPC = "grpc"
	TelemetryHTTP = "http"
)

// On reports whether tracing is on.
func (t Telemetry) On() bool { return t.OTLPEndpoint != "" }

// Ratio is the sample ratio in force.
func (t Telemetry) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

func (t *Telemetry) applyDefaults() {
	if t.On() && t.Protocol == "" {
		t.Protocol = TelemetryGRPC
	}
}

func (t *Telemetry) validate() []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "telemetry." + path, Message: fmt.Sprintf(format, args...)})
	}
	if !t.On() {
		// Settings that would do nothing are a mistake, not a choice.
		if t.Protocol != "" || t.SampleRatio != nil || t.Insecure || t.Attributes.Usernames || t.Attributes.ClientIPs {
			fail("otlp_endpoint", "is required with the other telemetry settings (tracing is off without it)")
		}
		return ps
	}
	switch t.Protocol {
	case TelemetryGRPC, TelemetryHTTP:
	default:
		fail("protocol", "must be grpc or http, not %q", t.Protocol)
	}
	if r := t.Ratio(); r < 0 || r > 1 {
		fail("sample_ratio", "must be from 0 to 1, not %v", r)
	}
	u, err := url.Parse(t.OTLPEndpoint)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		fail("otlp_endpoint", "must be an http:// or https:// URL such as http://collector:4317, not %q", t.OTLPEndpoint)
	case u.User != nil:
		fail("otlp_endpoint", "must not carry credentials; set OTEL_EXPORTER_OTLP_HEADERS in the host's environment instead")
	case u.RawQuery != "" || u.Fragment != "":
		fail("otlp_endpoint", "must have no query or fragment")
	case u.Scheme == "http" && !t.Insecure:
		fail("insecure", "must be true to export spans in plaintext to an http:// endpoint (or use https://)")
	case u.Scheme == "https" && t.Insecure:
		fail("insecure", "must be false with an https:// endpoint")
	case t.Protocol == TelemetryGRPC && u.Path != "" && u.Path != "/":
		fail("otlp_endpoint", "over grpc, only the host and port count: drop the path %q", u.Path)
	}
	return ps
}
