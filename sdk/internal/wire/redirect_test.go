package wire

import (
	"reflect"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

func TestRedirectMessagesCrossWhole(t *testing.T) {
	expiry := time.Date(2026, 12, 5, 10, 0, 0, 123000000, time.UTC)

	begin := redirect.BeginRequest{State: "st", RedirectURL: "https://auth.example/cb", CodeChallenge: "ch", Nonce: "n"}
	allSet(t, begin)
	if got := BeginRequestFromProto(roundTrip(t, BeginRequestToProto(&begin), &pb.RedirectBeginRequest{})); !reflect.DeepEqual(*got, begin) {
		t.Fatalf("Begin request across the wire\n got %+v\nwant %+v", *got, begin)
	}
	began := redirect.BeginResponse{URL: "https://idp.example/authorize?state=st"}
	allSet(t, began)
	if got := BeginResponseFromProto(roundTrip(t, BeginResponseToProto(&began), &pb.RedirectBeginResponse{})); !reflect.DeepEqual(*got, began) {
		t.Fatalf("Begin response across the wire: got %+v, want %+v", *got, began)
	}

	complete := redirect.CompleteRequest{RedirectURL: "https://auth.example/cb", Code: "code", CodeVerifier: "verifier", Nonce: "n"}
	allSet(t, complete)
	if got := CompleteRequestFromProto(roundTrip(t, CompleteRequestToProto(&complete), &pb.RedirectCompleteRequest{})); !reflect.DeepEqual(*got, complete) {
		t.Fatalf("Complete request across the wire\n got %+v\nwant %+v", *got, complete)
	}
	id := redirect.Identity{Subject: "https://idp.example|42", Username: "alice", Email: "alice@example.com",
		EmailVerified: true, Roles: []string{"admin", "ops"}, Provisioning: redirect.ProvisionCreate}
	allSet(t, id)
	// Identity and Failure together are no answer a backend should give;
	// here they only show that every field crosses.
	completed := redirect.CompleteResponse{Identity: &id, Failure: "f", Description: "d", RefreshToken: "rt", Expiry: expiry}
	allSet(t, completed)
	got := CompleteResponseFromProto(roundTrip(t, CompleteResponseToProto(&completed), &pb.RedirectCompleteResponse{}))
	if !reflect.DeepEqual(*got, completed) || !reflect.DeepEqual(*got.Identity, id) {
		t.Fatalf("Complete response across the wire\n got %+v (identity %+v)\nwant %+v (identity %+v)", *got, got.Identity, completed, id)
	}

	refresh := redirect.RefreshRequest{RefreshToken: "rt"}
	allSet(t, refresh)
	if got := RefreshRequestFromProto(roundTrip(t, RefreshRequestToProto(&refresh), &pb.RedirectRefreshRequest{})); !reflect.DeepEqual(*got, refresh) {
		t.Fatalf("Refresh request across the wire: got %+v, want %+v", *got, refresh)
	}
	refreshed := redirect.RefreshResponse{RefreshToken: "rt2", Expiry: expiry, Failure: "f", Description: "d"}
	allSet(t, refreshed)
	if got := RefreshResponseFromProto(roundTrip(t, RefreshResponseToProto(&refreshed), &pb.RedirectRefreshResponse{})); !reflect.DeepEqual(*got, refreshed) {
		t.Fatalf("Refresh response across the wire\n got %+v\nwant %+v", *got, refreshed)
	}
}

func TestRedirectZeroValues(t *testing.T) {
	// A failure has no identity: nil must not arrive as an empty identity,
	// which the host would take for a user. An empty identity stays one.
	got := CompleteResponseFromProto(roundTrip(t, CompleteResponseToProto(&redirect.CompleteResponse{Failure: redirect.FailureInvalidGrant}), &pb.RedirectCompleteResponse{}))
	if got.Identity != nil || got.Failure != redirect.FailureInvalidGrant || !got.Expiry.IsZero() {
		t.Fatalf("a failure arrived as %+v (identity %+v)", *got, got.Identity)
	}
	got = CompleteResponseFromProto(roundTrip(t, CompleteResponseToProto(&redirect.CompleteResponse{Identity: &redirect.Identity{Roles: []string{}}}), &pb.RedirectCompleteResponse{}))
	if got.Identity == nil || !reflect.DeepEqual(*got.Identity, redirect.Identity{}) {
		t.Fatalf("an empty identity arrived as %+v", got.Identity)
	}

	// No expiry is sent as none, not as a timestamp of the year 1 (which
	// another reader could take for a date), and is read as the zero time.
	if p := RefreshResponseToProto(&redirect.RefreshResponse{}); p.Expiry != nil {
		t.Fatalf("a zero expiry is sent as %v", p.Expiry)
	}
	if p := CompleteResponseToProto(&redirect.CompleteResponse{}); p.Expiry != nil {
		t.Fatalf("a zero expiry is sent as %v", p.Expiry)
	}
	if r := RefreshResponseFromProto(roundTrip(t, RefreshResponseToProto(&redirect.RefreshResponse{}), &pb.RedirectRefreshResponse{})); !reflect.DeepEqual(*r, redirect.RefreshResponse{}) {
		t.Fatalf("an empty refresh response arrived as %+v", *r)
	}

	// nil values are written as zero messages and missing messages read
	// as zero values.
	if p := BeginRequestToProto(nil); p == nil || !reflect.DeepEqual(*BeginRequestFromProto(p), redirect.BeginRequest{}) {
		t.Error("a nil Begin request")
	}
	if p := BeginResponseToProto(nil); p == nil || BeginResponseFromProto(nil).URL != "" {
		t.Error("a nil Begin response")
	}
	if p := CompleteRequestToProto(nil); p == nil || !reflect.DeepEqual(*CompleteRequestFromProto(nil), redirect.CompleteRequest{}) {
		t.Error("a nil Complete request")
	}
	if p := CompleteResponseToProto(nil); p == nil || !reflect.DeepEqual(*CompleteResponseFromProto(nil), redirect.CompleteResponse{}) {
		t.Error("a nil Complete response")
	}
	if p := RefreshRequestToProto(nil); p == nil || !reflect.DeepEqual(*RefreshRequestFromProto(nil), redirect.RefreshRequest{}) {
		t.Error("a nil Refresh request")
	}
	if p := RefreshResponseToProto(nil); p == nil || !reflect.DeepEqual(*RefreshResponseFromProto(nil), redirect.RefreshResponse{}) {
		t.Error("a nil Refresh response")
	}
}
