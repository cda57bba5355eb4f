// Package httpapi is the host's HTTP API: login, health and readiness.
//
// Every error is JSON, {"error": "<code>", "error_description": "<text>"},
// with the status codes of the product contract: 400 invalid_request, 401
// invalid_credentials, 403 permission_denied, 429 locked_out (with
// Retry-After), 503 backend_unavailable. Request bodies are size-limited and
// decoded strictly; bad input changes nothing.
//
// Capacity: a login over the limits of LoginLimits is refused before the
// chain, 429 too_many_concurrent_logins (its address has too many logins
// in progress) or 503 server_busy (the login queue is full, or no turn
// came in time), both with Retry-After. ConnLimiter bounds the connections
// of the listener the host serves the API on.
package httpapi
