// Package webhooksig signs and verifies webhook deliveries with the
// Standard Webhooks scheme (https://www.standardwebhooks.com/), so that any
// receiver library of that standard verifies them.
//
// A delivery carries three headers:
//
//	webhook-id:        the signal's id, the same on every retry of it
//	webhook-timestamp: the attempt's time, in whole seconds since the Unix epoch
//	webhook-signature: "v1," and the standard base64 of
//	                   HMAC-SHA256(key, id + "." + timestamp + "." + body)
//
// The signature covers the id and the timestamp as well as the body, so a
// captured delivery cannot be replayed under another id, and a receiver
// that checks the timestamp against its clock (Verifier.Verify, within
// DefaultTolerance either way) refuses it once the tolerance has passed.
// Within the tolerance, receivers drop repeated ids.
//
// The HMAC key comes from the subscriber's configured secret (Key): a
// secret written "whsec_<base64>" is the standard's form, and its key is
// the decoded bytes; any other secret's key is its own UTF-8 bytes.
//
// The package depends on the standard library only, so receivers and tests
// can import it alone.
package webhooksig
