package sdk

import (
	"context"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// AuthorizationRequestBackend prepares the challenges of authorization
// requests and checks the answers to them (package sdk/authreq): the OTP
// plugin makes, delivers and checks one-time codes; a device plugin checks
// a device's proof. The host owns each request, its state and every
// decision; the backend keeps what it needs to check answers only in the
// challenge's State, which the host stores with the request.
//
// PrepareChallenge is called when a request is created, and again at
// each reset with the next Generation: the old challenge must then stop
// checking. An error means the challenge could not be prepared (its code
// not delivered): the host refuses the request, or the reset, and fails
// closed. CheckAnswer judges one answer against the stored state; a wrong
// answer is a Verdict, never an error. An empty answer is never valid.
type AuthorizationRequestBackend interface {
	PrepareChallenge(ctx context.Context, req *authreq.Request) (authreq.Challenge, error)
	CheckAnswer(ctx context.Context, req *authreq.Request, state []byte, answer authreq.Answer) (authreq.Verdict, error)
}
