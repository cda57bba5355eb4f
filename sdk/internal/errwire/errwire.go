// Package errwire is the one place where errors cross the gRPC boundary
// between host and plugin, in both directions. The sentinel errors are
// defined here and re-exported by package sdk, so that errors.Is works on
// either side of the wire: an error a plugin returns arrives on the host as
// the same sentinel, and an error from a host service arrives in the plugin
// as the same sentinel.
package errwire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// Sentinel errors; see their re-exports in package sdk for the contracts.
var (
	ErrNotFound         = errors.New("not found")
	ErrConflict         = errors.New("conflict")
	ErrInvalidArgument  = errors.New("invalid argument")
	ErrPermissionDenied = errors.New("permission denied")
	ErrUnavailable      = errors.New("unavailable")
	ErrUnimplemented    = errors.New("not implemented")
)

// ConfigError lists every problem found in a configuration at once. Each
// problem crosses the wire as its path and message (a BadRequest field
// violation).
type ConfigError struct {
	Problems []strictjson.Problem
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidArgument) hold for a ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidArgument }

var sentinels = []struct {
	err  error
	code codes.Code
}{
	{ErrNotFound, codes.NotFound},
	{ErrConflict, codes.Aborted},
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrPermissionDenied, codes.PermissionDenied},
	{ErrUnavailable, codes.Unavailable},
	{ErrUnimplemented, codes.Unimplemented},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// ToStatus turns an error into the gRPC status error sent over the wire.
// A nil error stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var cfgErr *ConfigError
	if errors.As(err, &cfgErr) {
		st := status.New(codes.InvalidArgument, err.Error())
		br := &errdetails.BadRequest{}
		for _, p := range cfgErr.Problems {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: p.Path, Description: p.Message,
			})
		}
		if withDetails, derr := st.WithDetails(br); derr == nil {
			st = withDetails
		}
		return st.Err()
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return status.Error(s.code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// FromStatus turns an error received over the wire back into the sentinel or
// typed error it was made from. The message is kept; errors.Is matches the
// sentinel. Transport failures (the peer has gone away) become ErrUnavailable.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.InvalidArgument {
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				cfgErr := &ConfigError{}
				for _, v := range br.GetFieldViolations() {
					cfgErr.Problems = append(cfgErr.Problems, strictjson.Problem{Path: v.GetField(), Message: v.GetDescription()})
				}
				return cfgErr
			}
		}
	}
	for _, s := range sentinels {
		if st.Code() == s.code {
			return &remoteError{sentinel: s.err, msg: st.Message()}
		}
	}
	return &remoteError{msg: st.Message(), code: st.Code()}
}

// remoteError carries the message from the other side and matches its
// sentinel under errors.Is.
type remoteError struct {
	sentinel error
	code     codes.Code
	msg      string
}

func (e *remoteError) Error() string {
	if e.sentinel == nil {
		return fmt.Sprintf("remote error (%s): %s", e.code, e.msg)
	}
	return e.msg
}

func (e *remoteError) Unwrap() error { return e.sentinel }
