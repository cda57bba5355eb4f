package config

import "testing"

func TestTelemetryOffByDefault(t *testing.T) {
	cfg := mustParse(t, "", nil)
	if cfg.Telemetry.On() || cfg.Telemetry.Protocol != "" {
		t.Errorf("telemetry of an empty file = %+v, want off", cfg.Telemetry)
	}
}

func TestTelemetryParse(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		protocol string
		ratio    float64
		attrs    TelemetryAttributes
	}{
		{"defaults with an endpoint", "telemetry: {otlp_endpoint: \"https://collector.example.com:4317\"}\n", "grpc", 1, TelemetryAttributes{}},
		{"every key", "telemetry: {otlp_endpoint: \"http://127.0.0.1:4318/otlp\", protocol: http, sample_ratio: 0.25, insecure: true, attributes: {usernames: true, client_ips: true}}\n",
			"http", 0.25, TelemetryAttributes{Usernames: true, ClientIPs: true}},
		{"an explicit zero ratio keeps nothing", "telemetry: {otlp_endpoint: \"https://c:4317\", sample_ratio: 0}\n", "grpc", 0, TelemetryAttributes{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := mustParse(t, tt.yaml, nil).Telemetry
			if !tel.On() || tel.Protocol != tt.protocol || tel.Ratio() != tt.ratio || tel.Attributes != tt.attrs {
				t.Errorf("telemetry = %+v (ratio %v), want protocol %s, ratio %v, attributes %+v", tel, tel.Ratio(), tt.protocol, tt.ratio, tt.attrs)
			}
		})
	}
}

func TestTelemetryProblems(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		wants []want
	}{
		{"unknown key", "telemetry: {endpoint: x}\n", []want{{"telemetry.endpoint", "unknown key"}}},
		{"unknown attribute", "telemetry: {otlp_endpoint: \"https://c:4317\", attributes: {passwords: true}}\n", []want{{"telemetry.attributes.passwords", "unknown key"}}},
		{"settings without an endpoint", "telemetry: {sample_ratio: 0.5}\n", []want{{"telemetry.otlp_endpoint", "is required"}}},
		{"not a URL", "telemetry: {otlp_endpoint: \"collector:4317\"}\n", []want{{"telemetry.otlp_endpoint", "must be an http:// or https:// URL"}}},
		{"plaintext without insecure", "telemetry: {otlp_endpoint: \"http://c:4317\"}\n", []want{{"telemetry.insecure", "must be true"}}},
		{"insecure with https", "telemetry: {otlp_endpoint: \"https://c:4317\", insecure: true}\n", []want{{"telemetry.insecure", "must be false"}}},
		{"credentials in the URL", "telemetry: {otlp_endpoint: \"https://user:pw@c:4317\"}\n", []want{{"telemetry.otlp_endpoint", "must not carry credentials"}}},
		{"a path over grpc", "telemetry: {otlp_endpoint: \"https://c:4317/v1/traces\"}\n", []want{{"telemetry.otlp_endpoint", "only the host and port count"}}},
		{"unknown protocol", "telemetry: {otlp_endpoint: \"https://c:4317\", protocol: http/json}\n", []want{{"telemetry.protocol", "must be grpc or http"}}},
		{"ratio above 1", "telemetry: {otlp_endpoint: \"https://c:4317\", sample_ratio: 1.5}\n", []want{{"telemetry.sample_ratio", "must be from 0 to 1"}}},
		{"negative ratio", "telemetry: {otlp_endpoint: \"https://c:4317\", sample_ratio: -0.1}\n", []want{{"telemetry.sample_ratio", "must be from 0 to 1"}}},
		{"ratio not a number", "telemetry: {otlp_endpoint: \"https://c:4317\", sample_ratio: half}\n", []want{{"telemetry.sample_ratio", "must be a number"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tt.raw), (&env{}).lookup)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			checkProblems(t, problems(t, err), tt.wants)
		})
	}
}
