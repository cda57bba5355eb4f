package wire

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// roundTrip marshals m and unmarshals it into a new T, as gRPC does.
func roundTrip[T proto.Message](t *testing.T, m T, into T) T {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(raw, into); err != nil {
		t.Fatal(err)
	}
	return into
}

// allSet fails if a field of v is its zero value: a test value that leaves
// one out would not notice that field being dropped on the wire.
func allSet(t *testing.T, v any) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("the test's %T leaves %s at its zero value", v, rv.Type().Field(i).Name)
		}
	}
}

func TestAuthRequestCrossesWhole(t *testing.T) {
	req := authreq.Request{
		ID: "r1", Slug: "2FA", UserID: "u1", Username: "alice",
		Title: "Sign in", Description: "from Firefox", Data: json.RawMessage(`{"amount":5}`),
		ExpiresAt: time.Date(2026, 12, 5, 10, 0, 0, 123000000, time.UTC), Generation: 3,
	}
	allSet(t, req)
	got := AuthRequestFromProto(roundTrip(t, AuthRequestToProto(&req), &pb.AuthorizationRequest{}))
	if !reflect.DeepEqual(*got, req) {
		t.Fatalf("request across the wire\n got %+v\nwant %+v", *got, req)
	}

	answer := authreq.Answer{Code: "123456", Credentials: map[string]string{"signature": "c2ln"}}
	allSet(t, answer)
	check := roundTrip(t, AnswerToProto(&req, []byte("state"), answer), &pb.CheckAnswerRequest{})
	if a := AnswerFromProto(check); !reflect.DeepEqual(a, answer) {
		t.Fatalf("answer across the wire: got %+v, want %+v", a, answer)
	}
	if string(check.GetState()) != "state" || !reflect.DeepEqual(*AuthRequestFromProto(check.GetRequest()), req) {
		t.Fatalf("check across the wire: %+v", check)
	}

	ch := authreq.Challenge{State: []byte("s"), Delivery: "webhook"}
	allSet(t, ch)
	if got := ChallengeFromProto(roundTrip(t, ChallengeToProto(ch), &pb.PrepareChallengeResponse{})); !reflect.DeepEqual(got, ch) {
		t.Fatalf("challenge across the wire: got %+v, want %+v", got, ch)
	}

	v := authreq.Verdict{Valid: true, Reason: "r", State: []byte("used")}
	allSet(t, v)
	if got := VerdictFromProto(roundTrip(t, VerdictToProto(v), &pb.CheckAnswerResponse{})); !reflect.DeepEqual(got, v) {
		t.Fatalf("verdict across the wire: got %+v, want %+v", got, v)
	}
}

func TestAuthRequestZeroValues(t *testing.T) {
	// A request without data or expiry arrives without them, not with an
	// empty object or the year 1970; a nil request is the zero request.
	got := AuthRequestFromProto(roundTrip(t, AuthRequestToProto(&authreq.Request{ID: "r"}), &pb.AuthorizationRequest{}))
	if !reflect.DeepEqual(*got, authreq.Request{ID: "r"}) {
		t.Fatalf("got %+v", *got)
	}
	if got := AuthRequestFromProto(nil); !reflect.DeepEqual(*got, authreq.Request{}) {
		t.Fatalf("nil request: got %+v", *got)
	}
	if a := AnswerFromProto(roundTrip(t, AnswerToProto(nil, nil, authreq.Answer{Credentials: map[string]string{}}), &pb.CheckAnswerRequest{})); a.Code != "" || a.Credentials != nil {
		t.Fatalf("empty answer: got %+v", a)
	}
}

func TestVerdictStatePresence(t *testing.T) {
	// nil: the stored state stays. Empty: it is replaced by an empty one.
	// The two must not be confused on the wire.
	for _, state := range [][]byte{nil, {}, []byte("x")} {
		got := VerdictFromProto(roundTrip(t, VerdictToProto(authreq.Verdict{State: state}), &pb.CheckAnswerResponse{}))
		if (got.State == nil) != (state == nil) || string(got.State) != string(state) {
			t.Errorf("state %#v arrived as %#v", state, got.State)
		}
	}
}
