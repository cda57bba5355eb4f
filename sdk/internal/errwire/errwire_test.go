package errwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// allSentinels are the errors that must keep their identity across the wire.
var allSentinels = []struct {
	err  error
	code codes.Code
}{
	{errwire.ErrNotFound, codes.NotFound},
	{errwire.ErrConflict, codes.Aborted},
	{errwire.ErrInvalidArgument, codes.InvalidArgument},
	{errwire.ErrPermissionDenied, codes.PermissionDenied},
	{errwire.ErrUnavailable, codes.Unavailable},
	{errwire.ErrUnimplemented, codes.Unimplemented},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// roundTrip sends err through ToStatus and back through FromStatus.
func roundTrip(err error) error { return errwire.FromStatus(errwire.ToStatus(err)) }

// checkOnlySentinel requires errors.Is(err, want) and no other sentinel.
func checkOnlySentinel(t *testing.T, err, want error) {
	t.Helper()
	for _, s := range allSentinels {
		if got := errors.Is(err, s.err); got != (s.err == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s.err, got, !got)
		}
	}
}

func TestNilStaysNil(t *testing.T) {
	if err := errwire.ToStatus(nil); err != nil {
		t.Errorf("ToStatus(nil) = %v", err)
	}
	if err := errwire.FromStatus(nil); err != nil {
		t.Errorf("FromStatus(nil) = %v", err)
	}
}

func TestSentinelRoundTrip(t *testing.T) {
	for _, s := range allSentinels {
		t.Run(s.err.Error(), func(t *testing.T) {
			wire := errwire.ToStatus(s.err)
			st, ok := status.FromError(wire)
			if !ok {
				t.Fatalf("ToStatus(%v) = %v, not a gRPC status", s.err, wire)
			}
			if st.Code() != s.code || st.Message() != s.err.Error() {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), s.code, s.err.Error())
			}
			back := errwire.FromStatus(wire)
			checkOnlySentinel(t, back, s.err)
			if back.Error() != s.err.Error() {
				t.Errorf("message = %q, want %q", back.Error(), s.err.Error())
			}
			var cfgErr *errwire.ConfigError
			if errors.As(back, &cfgErr) {
				t.Errorf("a plain sentinel came back as a *ConfigError")
			}
		})
	}
}

func TestWrappedSentinelRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
		code codes.Code
	}{
		{"fmt wrap", fmt.Errorf("looking up %q: %w", "alice", errwire.ErrNotFound), errwire.ErrNotFound, codes.NotFound},
		{"double wrap", fmt.Errorf("rehash: %w", fmt.Errorf("swap: %w", errwire.ErrConflict)), errwire.ErrConflict, codes.Aborted},
		{"wrap with a cause", fmt.Errorf("%w: dialing host services: %v", errwire.ErrUnavailable, io.EOF), errwire.ErrUnavailable, codes.Unavailable},
		{"joined", errors.Join(errors.New("first"), errwire.ErrUnimplemented), errwire.ErrUnimplemented, codes.Unimplemented},
		{"deadline", fmt.Errorf("calling ldap: %w", context.DeadlineExceeded), context.DeadlineExceeded, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := errwire.ToStatus(tt.err)
			if got := status.Code(wire); got != tt.code {
				t.Errorf("code = %v, want %v", got, tt.code)
			}
			back := errwire.FromStatus(wire)
			checkOnlySentinel(t, back, tt.want)
			if back.Error() != tt.err.Error() {
				t.Errorf("message = %q, want %q", back.Error(), tt.err.Error())
			}
		})
	}
}

func TestConfigErrorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []strictjson.Problem
	}{
		{"several problems", &errwire.ConfigError{Problems: []strictjson.Problem{
			{Path: "failure_limit", Message: "must be > 0"},
			{Path: "argon2id.memory_kib", Message: "must be at least 8 × parallelism"},
			{Path: "servers[1].url", Message: "unknown field"},
			{Path: "", Message: "not valid JSON: unexpected end of JSON input"},
		}}, []strictjson.Problem{
			{Path: "failure_limit", Message: "must be > 0"},
			{Path: "argon2id.memory_kib", Message: "must be at least 8 × parallelism"},
			{Path: "servers[1].url", Message: "unknown field"},
			{Path: "", Message: "not valid JSON: unexpected end of JSON input"},
		}},
		{"wrapped", fmt.Errorf("configure: %w", &errwire.ConfigError{Problems: []strictjson.Problem{{Path: "a", Message: "b"}}}),
			[]strictjson.Problem{{Path: "a", Message: "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := errwire.ToStatus(tt.err)
			st := status.Convert(wire)
			if st.Code() != codes.InvalidArgument {
				t.Errorf("code = %v, want InvalidArgument", st.Code())
			}
			var br *errdetails.BadRequest
			for _, d := range st.Details() {
				if b, ok := d.(*errdetails.BadRequest); ok {
					br = b
				}
			}
			if br == nil || len(br.GetFieldViolations()) != len(tt.want) {
				t.Fatalf("details = %v, want a BadRequest with %d field violations", st.Details(), len(tt.want))
			}

			back := errwire.FromStatus(wire)
			var cfgErr *errwire.ConfigError
			if !errors.As(back, &cfgErr) {
				t.Fatalf("FromStatus = %v (%T), want a *ConfigError", back, back)
			}
			if !slices.Equal(cfgErr.Problems, tt.want) {
				t.Errorf("problems = %v, want %v", cfgErr.Problems, tt.want)
			}
			checkOnlySentinel(t, back, errwire.ErrInvalidArgument)
			for _, p := range tt.want {
				if !strings.Contains(back.Error(), p.String()) {
					t.Errorf("Error() = %q, want it to mention %q", back.Error(), p.String())
				}
			}
		})
	}
}

func TestConfigError(t *testing.T) {
	err := &errwire.ConfigError{Problems: []strictjson.Problem{{Path: "a.b", Message: "bad"}, {Message: "whole thing"}}}
	if got, want := err.Error(), "invalid configuration: a.b: bad; whole thing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	checkOnlySentinel(t, err, errwire.ErrInvalidArgument)
	checkOnlySentinel(t, fmt.Errorf("x: %w", err), errwire.ErrInvalidArgument)
}

func TestUnknownErrors(t *testing.T) {
	tests := []struct {
		name     string
		wire     error
		wantCode string
		wantMsg  string
	}{
		{"plain error", errwire.ToStatus(errors.New("disk on fire")), "Unknown", "disk on fire"},
		{"other code", status.Error(codes.FailedPrecondition, "go away"), "FailedPrecondition", "go away"},
		{"internal", status.Error(codes.Internal, "panic: nil map"), "Internal", "panic: nil map"},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "too big"), "ResourceExhausted", "too big"},
		{"invalid argument without details", status.Error(codes.InvalidArgument, "bad request"), "", "bad request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "plain error" && status.Code(tt.wire) != codes.Unknown {
				t.Errorf("ToStatus code = %v, want Unknown", status.Code(tt.wire))
			}
			back := errwire.FromStatus(tt.wire)
			if back == nil {
				t.Fatal("FromStatus = nil")
			}
			if !strings.Contains(back.Error(), tt.wantMsg) || !strings.Contains(back.Error(), tt.wantCode) {
				t.Errorf("Error() = %q, want it to hold %q and %q", back.Error(), tt.wantCode, tt.wantMsg)
			}
			var cfgErr *errwire.ConfigError
			if errors.As(back, &cfgErr) {
				t.Errorf("came back as a *ConfigError")
			}
			if tt.wantCode == "" {
				// InvalidArgument without field details is the plain sentinel.
				checkOnlySentinel(t, back, errwire.ErrInvalidArgument)
				return
			}
			checkOnlySentinel(t, back, nil)
		})
	}
}

func TestStatusPassesThrough(t *testing.T) {
	withDetails, err := status.New(codes.FailedPrecondition, "not yet").WithDetails(&errdetails.ErrorInfo{Reason: "WAIT"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []error{
		status.Error(codes.NotFound, "already a status"),
		status.Error(codes.Unknown, "odd"),
		withDetails.Err(),
	} {
		t.Run(in.Error(), func(t *testing.T) {
			if out := errwire.ToStatus(in); out != in {
				t.Errorf("ToStatus(%v) = %v, want the same error", in, out)
			}
		})
	}
}

func TestFromStatusKeepsNonStatusErrors(t *testing.T) {
	for _, in := range []error{errors.New("local"), errwire.ErrNotFound, io.EOF} {
		if out := errwire.FromStatus(in); out != in {
			t.Errorf("FromStatus(%v) = %v, want the same error", in, out)
		}
	}
}

func TestFieldErrorString(t *testing.T) {
	if got := (strictjson.Problem{Path: "x", Message: "y"}).String(); got != "x: y" {
		t.Errorf("got %q", got)
	}
	if got := (strictjson.Problem{Message: "y"}).String(); got != "y" {
		t.Errorf("got %q", got)
	}
}
