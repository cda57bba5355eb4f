package telemetry

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func lookupIn(env []string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for _, e := range env {
			if name, v, _ := strings.Cut(e, "="); name == k {
				return v, true
			}
		}
		return "", false
	}
}

func TestSettingsCrossTheEnvironment(t *testing.T) {
	want := Settings{Endpoint: "https://collector.example.com:4318/base", Protocol: ProtocolHTTP, SampleRatio: 0.25, ServiceName: "portcullis-plugin-local"}
	hostEnv := lookupIn([]string{"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer x", "DATABASE_PASSWORD=secret"})
	env := want.Env(hostEnv)
	for _, w := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=https://collector.example.com:4318/base", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_INSECURE=false", "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.25",
		"OTEL_SERVICE_NAME=portcullis-plugin-local", "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer x",
	} {
		if !slices.Contains(env, w) {
			t.Errorf("the environment %q lacks %q", env, w)
		}
	}
	for _, e := range env {
		if strings.Contains(e, "DATABASE_PASSWORD") {
			t.Errorf("the environment passes on %q, which is not an exporter's", e)
		}
	}
	got, ok, err := FromEnv(lookupIn(env))
	if err != nil || !ok || got != want {
		t.Errorf("FromEnv = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if Settings.Env(Settings{Endpoint: "http://127.0.0.1:4317", Protocol: ProtocolGRPC, SampleRatio: 1}, lookupIn(nil))[2] != EnvInsecure+"=true" {
		t.Error("an http:// endpoint is not passed on as insecure")
	}
}

func TestFromEnvWithoutSettingsIsOff(t *testing.T) {
	if _, ok, err := FromEnv(lookupIn(nil)); ok || err != nil {
		t.Errorf("FromEnv of an empty environment: on %v, error %v; want off", ok, err)
	}
}

func TestFromEnvRefusesWhatItCannotUse(t *testing.T) {
	base := []string{EnvEndpoint + "=http://127.0.0.1:4317"}
	for _, bad := range []string{
		EnvSamplerArg + "=2", EnvSamplerArg + "=half", EnvSampler + "=always_on",
		EnvProtocol + "=http/json", EnvEndpoint + "=127.0.0.1:4317",
	} {
		if _, ok, err := FromEnv(lookupIn(append([]string{bad}, base...))); ok || err == nil {
			t.Errorf("FromEnv with %s: on %v, error %v; want an error", bad, ok, err)
		}
	}
}

func TestExporterURL(t *testing.T) {
	for _, tt := range []struct{ endpoint, protocol, want string }{
		{"http://c:4318", ProtocolHTTP, "http://c:4318/v1/traces"},
		{"http://c:4318/", ProtocolHTTP, "http://c:4318/v1/traces"},
		{"https://c/otlp", ProtocolHTTP, "https://c/otlp/v1/traces"},
		{"http://c:4317", ProtocolGRPC, "http://c:4317"},
	} {
		got, err := Settings{Endpoint: tt.endpoint, Protocol: tt.protocol}.exporterURL()
		if err != nil || got != tt.want {
			t.Errorf("exporterURL(%s, %s) = %q, %v; want %q", tt.endpoint, tt.protocol, got, err, tt.want)
		}
	}
}

func TestExportErrorsAreLoggedOnceAMinute(t *testing.T) {
	var out strings.Builder
	h := ErrorHandler(slog.New(slog.NewTextHandler(&out, nil)))
	for range 3 {
		h.Handle(errors.New("connection refused"))
	}
	if n := strings.Count(out.String(), "connection refused"); n != 1 {
		t.Errorf("%d lines for 3 errors in a row, want 1:\n%s", n, out.String())
	}
}
