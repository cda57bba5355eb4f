package signals

import (
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// --- admin (lback AdminAuth) ---

// AdminAuthInitialized: the admin subsystem is ready.
type AdminAuthInitialized struct{}

// AdminRegistrationAttempt: an admin account is about to be created.
type AdminRegistrationAttempt struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	// Admin is the admin who registers the account; empty on the command
	// line.
	Admin string `json:"admin,omitempty"`
}

// AdminRegistrationSuccessful: an admin account was created.
type AdminRegistrationSuccessful struct {
	AdminUserID string `json:"admin_user_id"`
	Username    string `json:"username"`
	Email       string `json:"email"`
	Admin       string `json:"admin,omitempty"`
}

// AdminRegistrationFailed: creating an admin account failed.
type AdminRegistrationFailed struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Admin    string `json:"admin,omitempty"`
	// ErrorType is e.g. "validation_error" or "already_exists".
	ErrorType    string `json:"error_type"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// AdminLoginAttempt: an admin login started.
type AdminLoginAttempt struct {
	Username string `json:"username"`
	sdk.Client
}

// AdminLoginSuccessful: an admin logged in.
type AdminLoginSuccessful struct {
	AdminUserID string `json:"admin_user_id"`
	Username    string `json:"username"`
	sdk.Client
}

// AdminLoginFailed: an admin login failed.
type AdminLoginFailed struct {
	Username string `json:"username"`
	sdk.Client
	// Reason is "authentication_failed" or "exception".
	Reason string `json:"reason"`
}

// AdminLogoutAttempt: an admin logout started.
type AdminLogoutAttempt struct {
	// SessionID identifies the session; it is not the cookie value.
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
}

// AdminLogoutSuccessful: an admin session ended.
type AdminLogoutSuccessful struct {
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
}

// AdminAuthenticationCheck: a request was checked for an admin session.
type AdminAuthenticationCheck struct {
	UserID  string `json:"user_id"`
	IsAdmin bool   `json:"is_admin"`
	// Reason is one of authenticated_session_is_admin,
	// authenticated_session_not_admin, session_authentication_failed, ...
	Reason string `json:"reason"`
}

// AdminAction: an admin changed something (the audit trail of the admin
// API and page). It never carries a secret: a password set is named, not
// given.
type AdminAction struct {
	// Admin is the acting admin's username; Via is "session", "token" or
	// "cli".
	Admin string `json:"admin"`
	Via   string `json:"via,omitempty"`
	// Action is e.g. user_created, user_disabled, user_password_set,
	// role_created, role_permissions_granted, lockout_reset,
	// delivery_retried, admin_token_created.
	Action string `json:"action"`
	// Target names what changed: a username, a role, a token's name, a
	// delivery id.
	Target  string         `json:"target,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// --- tokens (lback JWTAuth) ---

// JWTAccessTokenCreated: an access token was issued. The token itself is
// never included; TokenID identifies it.
type JWTAccessTokenCreated struct {
	Subject   string            `json:"subject"`
	TokenID   string            `json:"token_id"`
	ExpiresAt time.Time         `json:"expires_at"`
	Claims    map[string]string `json:"claims,omitempty"`
}

// JWTRefreshTokenCreated: a refresh token was issued.
type JWTRefreshTokenCreated struct {
	Subject   string    `json:"subject"`
	TokenID   string    `json:"token_id"`
	FamilyID  string    `json:"family_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// JWTTokenDecoded: a token was verified.
type JWTTokenDecoded struct {
	Subject   string `json:"subject"`
	TokenID   string `json:"token_id"`
	TokenType string `json:"token_type"`
}

// JWTDecodeFailed: a token was rejected.
type JWTDecodeFailed struct {
	// ErrorType is one of empty_token, expired, invalid_signature,
	// invalid_audience, invalid_issuer, invalid_issued_at, malformed,
	// type_mismatch, revoked, unexpected_exception.
	ErrorType    string `json:"error_type"`
	ExpectedType string `json:"expected_type,omitempty"`
	ActualType   string `json:"actual_type,omitempty"`
}

// --- oauth2 (lback OAuth2Auth) ---

// OAuth2AuthorizeURLGenerated: a browser is sent to the provider. The URL
// is given without its query (which carries the state).
type OAuth2AuthorizeURLGenerated struct {
	Backend      string `json:"backend"`
	AuthorizeURL string `json:"authorize_url"`
	Scope        string `json:"scope"`
}

// OAuth2TokenFetched: the provider exchanged a code for tokens.
type OAuth2TokenFetched struct {
	Backend   string `json:"backend"`
	Scope     string `json:"scope"`
	ExpiresIn int64  `json:"expires_in"`
}

// OAuth2TokenFetchFailed: the exchange failed.
type OAuth2TokenFetchFailed struct {
	Backend string `json:"backend"`
	// Error is timeout, http_error_<status>, request_error or
	// unexpected_exception.
	Error string `json:"error"`
}

// OAuth2TokenRefreshed: upstream tokens were refreshed.
type OAuth2TokenRefreshed struct {
	Backend   string `json:"backend"`
	ExpiresIn int64  `json:"expires_in"`
}

// OAuth2TokenRefreshFailed: refreshing upstream tokens failed.
type OAuth2TokenRefreshFailed struct {
	Backend string `json:"backend"`
	Error   string `json:"error"`
}

// --- mobile devices (django-auth-token's MobileDevice) ---

// DeviceRegistered: a mobile device was registered for a user, or an
// inactive one reactivated. Its secret (a token, or the server's view of
// a key) is never included.
type DeviceRegistered struct {
	DeviceID string `json:"device_id"`
	UserID   string `json:"user_id"`
	// Name is the device's name, as the user or app gave it.
	Name string `json:"name"`
	// Primary is set when the device became the user's primary one (the
	// user's other devices stopped being primary).
	Primary bool `json:"primary"`
	// Reactivated is set when the device id was registered before, and
	// revoked.
	Reactivated bool `json:"reactivated"`
	// KeyType is "token" (the device proves itself with a token it was
	// given) or "ed25519" (with signatures by its own key).
	KeyType string `json:"key_type"`
}

// DeviceRevoked: a mobile device was revoked; it keeps its record,
// inactive.
type DeviceRevoked struct {
	DeviceID string `json:"device_id"`
	UserID   string `json:"user_id"`
}

// --- permissions (lback PermissionRequired) ---

// PermissionCheck holds the arguments every permission signal shares.
type PermissionCheck struct {
	// UserID is the token's subject; empty when there is no valid token.
	UserID              string   `json:"user_id"`
	RequiredPermissions []string `json:"required_permissions"`
	Resource            string   `json:"resource,omitempty"`
	// Mode is "all" (every permission is needed) or "any" (one is enough).
	Mode string `json:"mode,omitempty"`
	// App is the name of the app key the check was asked with.
	App string `json:"app,omitempty"`
}

// PermissionCheckStarted: a permission check began.
type PermissionCheckStarted struct{ PermissionCheck }

// PermissionCheckSucceeded: the user holds every permission.
type PermissionCheckSucceeded struct{ PermissionCheck }

// PermissionCheckFailed: the check failed.
type PermissionCheckFailed struct {
	PermissionCheck
	// Reason is user_not_authenticated, missing_permissions or
	// permissions_overflow.
	Reason  string   `json:"reason"`
	Missing []string `json:"missing,omitempty"`
}

// --- sessions and logins ---

// UserLoginFailed: a login was refused with a decision (every backend
// abstained, or one denied). A backend that could not decide (down, timed
// out) does not produce it: that is not a failed password.
type UserLoginFailed struct {
	Username string `json:"username"`
	sdk.Client
	// Backend is the backend that decided, if any.
	Backend string `json:"backend"`
	// Reason is the backend's reason code, e.g. invalid_credentials or
	// locked_out.
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	Path      string `json:"path"`
}

// UserLoginUnavailable: a login was refused because it could not be
// decided (a backend is down, timed out or failed, or a lockout counter was
// busy past its wait): the host failed closed. It is not a failed password
// and is never counted as one. (Portcullis's own; the seed systems have no
// equivalent.)
type UserLoginUnavailable struct {
	Username string `json:"username"`
	sdk.Client
	// Backend is the backend that could not decide.
	Backend string `json:"backend"`
	// Reason is backend_unavailable or try_again (a lockout counter was
	// full of attempts in flight).
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	Path      string `json:"path"`
}

// UserLoggedIn: a login succeeded.
type UserLoggedIn struct {
	UserID string `json:"user_id"`
	// Username is the name the client logged in with.
	Username string `json:"username"`
	// UserType is "user" or "admin".
	UserType string `json:"user_type"`
	sdk.Client
	Backend string `json:"backend"`
	// SessionID identifies the new session (the token family); it is not a
	// token.
	SessionID string `json:"session_id"`
	RequestID string `json:"request_id"`
	Path      string `json:"path"`
}

// SessionLoginFailed: a session could not be established after a login.
type SessionLoginFailed struct {
	UserID   string `json:"user_id"`
	UserType string `json:"user_type"`
	// Reason is session_unavailable, session_inactive, ...
	Reason string `json:"reason"`
}

// SessionAuthenticationCheck: a request's session was checked.
type SessionAuthenticationCheck struct {
	UserID          string `json:"user_id"`
	IsAuthenticated bool   `json:"is_authenticated"`
	// Reason is authenticated_and_active, session_inactive,
	// session_expiry_missing, session_unavailable, ...
	Reason string `json:"reason"`
}

// UserLoggedOut: a session ended.
type UserLoggedOut struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	sdk.Client
}

// --- authorization requests (django-auth-token; sender: the slug) ---

// AuthorizationRequest holds the arguments every authorization signal
// shares.
type AuthorizationRequest struct {
	AuthorizationRequestID string `json:"authorization_request_id"`
	Slug                   string `json:"slug"`
	UserID                 string `json:"user_id"`
	Backend                string `json:"backend"`
}

// AuthorizationRequested: a request was created (or reset) and is WAITING.
type AuthorizationRequested struct {
	AuthorizationRequest
	Title     string    `json:"title"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AuthorizationGranted: a WAITING request was granted.
type AuthorizationGranted struct{ AuthorizationRequest }

// AuthorizationDenied: a WAITING request was denied.
type AuthorizationDenied struct{ AuthorizationRequest }

// AuthorizationCancelled: a WAITING request was cancelled.
type AuthorizationCancelled struct{ AuthorizationRequest }

// AuthorizationExpired: a request expired while WAITING.
type AuthorizationExpired struct{ AuthorizationRequest }

// --- lockout (django-axes) ---

// UserLockedOut: a client reached a counter's failure limit (or a longer
// tier) of a lockout backend.
type UserLockedOut struct {
	// Backend is the lockout backend whose rule locked the client.
	Backend  string `json:"backend"`
	Username string `json:"username"`
	sdk.Client
	Failures int `json:"failures"`
	// Group names the counter that locked, e.g. "ip_address+username".
	Group string `json:"group"`
	// Until is when the lock ends; zero for a lock that lasts until reset.
	Until time.Time `json:"until"`
}

// LockoutReset: an operator removed lockout records.
type LockoutReset struct {
	Backend string `json:"backend"`
	// Admin is the admin who reset; empty on the command line.
	Admin    string `json:"admin,omitempty"`
	Username string `json:"username,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
	All      bool   `json:"all,omitempty"`
	Removed  int    `json:"removed"`
}

// --- host ---

// PluginStarted: a plugin process started (Restart > 0 for a restart).
type PluginStarted struct {
	Backend string `json:"backend"`
	Plugin  string `json:"plugin"`
	PID     int    `json:"pid"`
	Restart int    `json:"restart"`
}

// PluginExited: a plugin process exited or was stopped.
type PluginExited struct {
	Backend string `json:"backend"`
	Plugin  string `json:"plugin"`
	PID     int    `json:"pid"`
}
