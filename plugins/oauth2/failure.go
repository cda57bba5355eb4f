package oauth2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// FailureRequestError is the failure of an answer the provider gave that
// could not be read (a token response without an access token, a
// discovery document that is not one): lback's request_error. The other
// failures are package redirect's, and "http_error_<status>".
const FailureRequestError = "request_error"

// FailureHTTPError is the failure of an HTTP error status from the
// provider, as lback names it.
func FailureHTTPError(status int) string { return "http_error_" + strconv.Itoa(status) }

// failure is why the provider did not vouch for a user, or did not
// refresh: a Failure value and a description for people. Neither ever
// holds what the provider said in free text (which may echo a code or a
// token back), only what this package chose to say.
type failure struct {
	Type        string
	Description string
}

func (f *failure) Error() string { return f.Type + ": " + f.Description }

// fail makes a failure.
func fail(typ, format string, args ...any) *failure {
	return &failure{Type: typ, Description: fmt.Sprintf(format, args...)}
}

// statusError is an HTTP error status from a provider's endpoint that
// this package called itself (discovery, userinfo).
type statusError struct {
	endpoint string
	status   int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("the %s answered HTTP %d", e.endpoint, e.status)
}

// classify turns the error of a call to the provider into a failure:
// what the provider refused, how it could not be reached, or that its
// answer could not be read. what names the call ("the token endpoint")
// for the description. It never quotes the error's text, which for the
// token endpoint holds the provider's response body.
func classify(err error, what string, timeout fmt.Stringer) *failure {
	var f *failure
	var re *oauth2.RetrieveError
	var se *statusError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fail(redirect.FailureTimeout, "%s did not answer within %s", what, timeout)
	case errors.As(err, &re):
		code := errorCode(re.ErrorCode)
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case code == redirect.FailureInvalidGrant:
			return fail(redirect.FailureInvalidGrant, "%s refused the grant (invalid_grant): the code or refresh token is unknown, used, expired, revoked, or not this client's or this verifier's", what)
		case status < 200 || status > 299:
			desc := fmt.Sprintf("%s answered HTTP %d", what, status)
			if code != "" {
				desc += " (" + code + ")"
			}
			return fail(FailureHTTPError(status), "%s", desc)
		default:
			return fail(FailureRequestError, "%s refused the request (%s)", what, code)
		}
	case errors.As(err, &se):
		return fail(FailureHTTPError(se.status), "%s answered HTTP %d", what, se.status)
	case errors.As(err, &ue):
		// What the client could not do: resolve, connect, speak TLS, or
		// read an answer the server cut off.
		return fail(redirect.FailureUnreachable, "%s could not be reached%s", what, cause(err))
	default:
		return fail(FailureRequestError, "the answer of %s could not be read", what)
	}
}

// cause names, for people, why a connection failed; it says nothing the
// error's text could carry.
func cause(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return " (its name does not resolve)"
	case errors.As(err, &op) && op.Op == "dial":
		return " (the connection was refused or could not be made)"
	case errors.As(err, &op):
		return " (the connection failed)"
	default:
		return ""
	}
}

// errorCode returns an OAuth2 error code as it may be shown: RFC 6749
// restricts it to printable ASCII without quotes or backslashes; anything
// else, or anything longer than a code is, is not shown.
func errorCode(code string) string {
	if len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == ' ' }) {
		return "an unreadable error code"
	}
	return code
}
