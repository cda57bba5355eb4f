package signals

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/portcullis-auth/portcullis/sdk"
)

// sender says who may send a signal.
type sender int

const (
	hostOnly sender = iota // only the host
	plugins                // the host, or a plugin that declares it
)

// catalogue is the one list of signals: name, who may send it, and the
// type of its arguments. Everything else in this package is derived from
// it.
var catalogue = []struct {
	name string
	from sender
	args any
}{
	// admin (lback AdminAuth)
	{"admin_auth_initialized", hostOnly, AdminAuthInitialized{}},
	{"admin_registration_attempt", hostOnly, AdminRegistrationAttempt{}},
	{"admin_registration_successful", hostOnly, AdminRegistrationSuccessful{}},
	{"admin_registration_failed", hostOnly, AdminRegistrationFailed{}},
	{"admin_login_attempt", hostOnly, AdminLoginAttempt{}},
	{"admin_login_successful", hostOnly, AdminLoginSuccessful{}},
	{"admin_login_failed", hostOnly, AdminLoginFailed{}},
	{"admin_logout_attempt", hostOnly, AdminLogoutAttempt{}},
	{"admin_logout_successful", hostOnly, AdminLogoutSuccessful{}},
	{"admin_authentication_check", hostOnly, AdminAuthenticationCheck{}},
	{"admin_action", hostOnly, AdminAction{}},
	// tokens (lback JWTAuth)
	{"jwt_access_token_created", hostOnly, JWTAccessTokenCreated{}},
	{"jwt_refresh_token_created", hostOnly, JWTRefreshTokenCreated{}},
	{"jwt_token_decoded", hostOnly, JWTTokenDecoded{}},
	{"jwt_decode_failed", hostOnly, JWTDecodeFailed{}},
	// oauth2 (lback OAuth2Auth): sent by the OAuth2 plugin
	{"oauth2_authorize_url_generated", plugins, OAuth2AuthorizeURLGenerated{}},
	{"oauth2_token_fetched", plugins, OAuth2TokenFetched{}},
	{"oauth2_token_fetch_failed", plugins, OAuth2TokenFetchFailed{}},
	{"oauth2_token_refreshed", plugins, OAuth2TokenRefreshed{}},
	{"oauth2_token_refresh_failed", plugins, OAuth2TokenRefreshFailed{}},
	// mobile devices (django-auth-token's MobileDevice): sent by the
	// mobiledevice plugin
	{"device_registered", plugins, DeviceRegistered{}},
	{"device_revoked", plugins, DeviceRevoked{}},
	// permissions (lback PermissionRequired)
	{"permission_check_started", hostOnly, PermissionCheckStarted{}},
	{"permission_check_succeeded", hostOnly, PermissionCheckSucceeded{}},
	{"permission_check_failed", hostOnly, PermissionCheckFailed{}},
	// sessions and logins
	{"user_login_failed", hostOnly, UserLoginFailed{}},
	{"user_logged_in", hostOnly, UserLoggedIn{}},
	{"session_login_failed", hostOnly, SessionLoginFailed{}},
	{"session_authentication_check", hostOnly, SessionAuthenticationCheck{}},
	{"user_logged_out", hostOnly, UserLoggedOut{}},
	{"user_login_unavailable", hostOnly, UserLoginUnavailable{}},
	// authorization requests (django-auth-token; sender: the request's slug)
	{"authorization_requested", hostOnly, AuthorizationRequested{}},
	{"authorization_granted", hostOnly, AuthorizationGranted{}},
	{"authorization_denied", hostOnly, AuthorizationDenied{}},
	{"authorization_cancelled", hostOnly, AuthorizationCancelled{}},
	{"authorization_expired", hostOnly, AuthorizationExpired{}},
	// lockout (django-axes)
	{"user_locked_out", hostOnly, UserLockedOut{}},
	{"lockout_reset", hostOnly, LockoutReset{}},
	// host
	{"plugin_started", hostOnly, PluginStarted{}},
	{"plugin_exited", hostOnly, PluginExited{}},
}

type entry struct {
	name string
	from sender
	typ  reflect.Type
}

// byName and byType index the catalogue.
var byName, byType = index()

func index() (map[string]entry, map[reflect.Type]string) {
	names, types := map[string]entry{}, map[reflect.Type]string{}
	for _, c := range catalogue {
		t := reflect.TypeOf(c.args)
		if _, dup := names[c.name]; dup {
			panic("signals: " + c.name + " is listed twice")
		}
		if _, dup := types[t]; dup {
			panic("signals: " + t.Name() + " is listed twice")
		}
		names[c.name] = entry{name: c.name, from: c.from, typ: t}
		types[t] = c.name
	}
	return names, types
}

// Names returns every catalogue signal name, sorted.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Known reports whether name is a catalogue signal.
func Known(name string) bool {
	_, ok := byName[name]
	return ok
}

// hostPrefixes begin the names of the host's families of signals: a
// plugin's own signal names may not begin with them, so that nobody can
// mistake a plugin's signal for one of the host's.
var hostPrefixes = []string{"admin_", "authorization_", "jwt_", "lockout_", "permission_", "plugin_", "session_", "user_"}

// HostOnly reports whether only the host may send the signal name: a
// catalogue signal the host owns, or any name in one of the host's
// families (user_, session_, jwt_, admin_, permission_, authorization_,
// lockout_, plugin_) that the catalogue does not give to plugins.
func HostOnly(name string) bool {
	if e, ok := byName[name]; ok {
		return e.from == hostOnly
	}
	for _, p := range hostPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// New returns a pointer to a zero value of the arguments of the catalogue
// signal name, and false for a name outside the catalogue.
func New(name string) (any, bool) {
	e, ok := byName[name]
	if !ok {
		return nil, false
	}
	return reflect.New(e.typ).Interface(), true
}

// NameOf returns the signal whose arguments args (a value or pointer of a
// catalogue type) are.
func NameOf(args any) (string, bool) {
	t := reflect.TypeOf(args)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name, ok := byType[t]
	return name, ok
}

// Decode decodes sig's arguments into args, a pointer to the argument type
// of sig's name.
func Decode(sig *sdk.Signal, args any) error {
	name, ok := NameOf(args)
	if !ok {
		return fmt.Errorf("%w: %T is not a catalogue signal's arguments", sdk.ErrInvalidArgument, args)
	}
	if name != sig.Name {
		return fmt.Errorf("%w: signal %s cannot decode into %T (the arguments of %s)", sdk.ErrInvalidArgument, sig.Name, args, name)
	}
	return json.Unmarshal(sig.Args, args)
}
