// Package sdktest helps plugin authors test their plugins without a host.
//
// Start serves a plugin in the test process and returns the host's view of
// it over real gRPC, so a test exercises the same wire conversion as
// production. MemoryHost is an in-memory sdk.Host for seeding users and
// inspecting stored values and emitted signals; a Clock drives its storage's
// expiry. StorageSuite is the sdk.Storage contract as tests, which the
// host's storage, the plugin's client of it and MemoryHost all pass.
// AuthenticatorSuite is the conformance suite every Authenticator should
// pass:
//
//	func TestConformance(t *testing.T) {
//		sdktest.AuthenticatorSuite{
//			New:     func() sdk.Plugin { return mybackend.New() },
//			Valid:   []sdktest.Credentials{{Username: "alice", Password: "right"}},
//			Invalid: []sdktest.Credentials{{Username: "alice", Password: "wrong"}},
//		}.Run(t)
//	}
//
// TimingCheck fails an Authenticator whose answer for an unknown user comes
// measurably sooner than for a known user with a wrong password (a
// statistical test over interleaved tries, not a timed assertion).
//
// AuthorizationRequestSuite is the one every AuthorizationRequestBackend
// should pass. Its Answer returns the correct answer to a challenge just
// prepared, such as the code the test's webhook receiver captured:
//
//	func TestConformance(t *testing.T) {
//		codes := newCodeReceiver(t) // the test's: records each code sent
//		sdktest.AuthorizationRequestSuite{
//			New:    func() sdk.Plugin { return mybackend.New() },
//			Config: codes.config(),
//			Answer: func(t testing.TB, req *authreq.Request, _ authreq.Challenge) authreq.Answer {
//				return authreq.Answer{Code: codes.last(t, req.ID)}
//			},
//			SingleUse: true,
//		}.Run(t)
//	}
//
// RedirectSuite is the one every redirect.Authenticator should pass. Its
// SignIn plays a user at the test's provider and returns the code the
// provider sends back:
//
//	func TestConformance(t *testing.T) {
//		idp := newProvider(t) // the test's: an OpenID provider on httptest
//		sdktest.RedirectSuite{
//			New:    func() sdk.Plugin { return mybackend.New() },
//			Config: idp.config(),
//			SignIn: func(t testing.TB, authorizeURL string) string {
//				return idp.signIn(t, authorizeURL, "alice")
//			},
//		}.Run(t)
//	}
package sdktest
