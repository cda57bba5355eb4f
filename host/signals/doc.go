// Package signals is the host's signal stream: it emits signals to their
// subscribers, synchronously inside the request or durably through the
// database outbox.
//
// Sync subscribers run in order, each with its own deadline; one that fails,
// panics or is too slow is isolated, logged and counted, and never changes
// the caller's answer. Async subscribers get one outbox row per signal,
// written before Emit returns, and a Deliverer on every host claims due rows
// under a lease and delivers them at least once, with exponential back-off
// and a dead-letter state after the configured number of attempts.
//
// Built-in subscribers are a webhook (a JSON POST signed with the Standard
// Webhooks scheme, package webhooksig) and an audit file (JSON lines);
// plugins receive signals through the sdk.SignalReceiver capability.
package signals
