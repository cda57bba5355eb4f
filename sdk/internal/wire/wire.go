// Package wire holds what the plugin and host sides of the protocol must
// agree on besides the generated protobuf code: the go-plugin handshake, the
// name under which a plugin is dispensed, the environment a plugin reads,
// a hook through which sdktest serves a plugin in-process, and the
// conversion of the messages both sides write and read (authreq.go,
// redirect.go).
package wire

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the version of the host/plugin protocol; sdk exports
// it. A plugin built against another version is refused at the handshake.
// Version 3 added the authorization-request capability, version 4 the
// redirect-authenticator capability.
const ProtocolVersion = 4

// Handshake is the go-plugin handshake every Portcullis plugin and host
// use. The magic cookie is not a security measure: it only stops a plugin
// binary that is run by hand from waiting for a host that is not there.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "PORTCULLIS_PLUGIN",
	MagicCookieValue: "b3c1d6b0-portcullis-plugin-v1",
}

// PluginName is the name under which the host dispenses a plugin.
const PluginName = "portcullis"

// LogLevelEnv is the environment variable through which the host tells a
// plugin the least important level it logs ("debug", "info", "warn" or
// "error"); lines below it are not written at all.
const LogLevelEnv = "PORTCULLIS_LOG_LEVEL"

// Capability names one capability a plugin implements, as the host sees
// it. The SDK derives a plugin's capabilities from the interfaces its value
// implements.
type Capability string

// The capabilities.
const (
	Authenticator        Capability = "authenticator"
	OutcomeObserver      Capability = "outcome_observer"
	AttemptLimiter       Capability = "attempt_limiter"
	Admin                Capability = "admin"
	SignalReceiver       Capability = "signal_receiver"
	AuthorizationRequest Capability = "authorization_request_backend"
	RedirectAuth         Capability = "redirect_authenticator"
)

// Bounds of a plugin's answers, which the host enforces (package
// hostside). The Go SDK checks the memo's before sending too (package
// sdk); an answer over any other bound reaches the host and fails there.
const (
	// MaxMemo bounds an AuthenticateResponse's memo, in bytes.
	MaxMemo = 4 << 10
	// MaxDescription bounds an answer's description, in bytes.
	MaxDescription = 1 << 10
	// MaxReason bounds an answer's reason code, in bytes.
	MaxReason = 128
	// MaxDetails bounds an answer's details_json and an identity's
	// attributes (their keys and values together), in bytes.
	MaxDetails = 16 << 10
	// MaxSubject bounds an identity's subject and username, in bytes.
	MaxSubject = 512
	// MaxMessage bounds any one message the host receives from a plugin,
	// in bytes (gRPC's own default; go-plugin raises it to 2 GiB).
	MaxMessage = 4 << 20
)

// ServeInProcess serves a plugin value (an sdk.Plugin) inside the calling
// process until ctx is done, without TLS, and returns the configuration a
// host reattaches with and a channel closed once serving has stopped after
// ctx ended (its connections to the host closed). Package sdk sets it;
// sdktest calls it. It is a variable only because sdktest cannot reach
// sdk's unexported code and sdk cannot import sdktest.
var ServeInProcess func(ctx context.Context, plugin any) (*goplugin.ReattachConfig, <-chan struct{}, error)
