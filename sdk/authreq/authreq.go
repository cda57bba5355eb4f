// Package authreq holds the types of the authorization-request capability
// (sdk.AuthorizationRequestBackend): a backend that prepares the challenge
// of an authorization request (make and deliver a code, say) and checks the
// answers to it.
//
// The host owns the request: its state (waiting, granted, denied,
// cancelled, expired), its expiry, how many wrong answers it has had, and
// every decision. A backend only prepares and checks. It keeps nothing of
// its own between the two: what it needs to check an answer it returns as
// the challenge's State, which the host stores with the request and hands
// back with each answer, so that a backend process may restart, or run on
// several hosts, between a request's creation and its answer.
package authreq

import (
	"encoding/json"
	"time"
)

// MaxState is the largest State a backend may return, in bytes.
const MaxState = 4096

// Request is the authorization request a challenge is prepared for or an
// answer is checked against. It carries no secret.
type Request struct {
	// ID identifies the request.
	ID string
	// Slug names the kind of operation ("2FA", "transfer"); signals are
	// sent with it as their sender.
	Slug string
	// UserID and Username are the user who must answer.
	UserID, Username string
	// Title and Description say what is to be approved, for the user.
	Title, Description string
	// Data is the app's data about the operation (a JSON object, or nil).
	Data json.RawMessage
	// ExpiresAt is when the request expires unanswered.
	ExpiresAt time.Time
	// Generation counts the request's resets: 0 when it is new, n after
	// n resets. A challenge prepared for one generation must not check an
	// answer of another (a reset kills the old code).
	Generation int
}

// Challenge is what a backend prepared for a request.
type Challenge struct {
	// State is what the backend needs to check answers: the host stores it
	// with the request and hands it back with each answer. It is stored
	// as it is, so it must hold no secret in a form that gives the secret
	// away (a code goes in as a keyed hash, never in clear). At most
	// MaxState bytes.
	State []byte
	// Delivery says how the challenge reached the user, for the app and
	// the log ("webhook", "log"); never the code.
	Delivery string
}

// Answer is a user's answer to a challenge. It carries secrets: never log
// it.
type Answer struct {
	// Code is the code the user typed, for a backend that sent one.
	Code string
	// Credentials are other proofs (a device's), by name.
	Credentials map[string]string
}

// Verdict is a backend's judgement of an answer. It does not decide the
// request: the app (or the host, for a two-factor login) grants or denies.
type Verdict struct {
	// Valid is set when the answer proves what the challenge asked.
	Valid bool
	// Reason says, when the answer is not valid, why, as a short code
	// ("invalid_code", "code_used"); no secret.
	Reason string
	// State, if not nil, replaces the request's stored state, as one
	// change with the verdict: a single-use code is marked used this way.
	// The host stores it only if the state it handed over is still the
	// stored one; if another answer changed it meanwhile, this answer is
	// not valid.
	State []byte
}
