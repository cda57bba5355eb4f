package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// AuthorizationRequestSuite is the conformance suite for
// AuthorizationRequestBackends. Every first-party one runs it; third-party
// ones should too. The suite prepares challenges for requests of the user
// alice (id u-alice) and plays the host: it stores each State a verdict
// returns, as the host does, and checks answers against what is stored.
type AuthorizationRequestSuite struct {
	// New returns a fresh, unconfigured plugin.
	New func() sdk.Plugin
	// Config is a valid configuration for it (nil means "{}").
	Config json.RawMessage
	// Host returns the host the plugin runs against (nil means an empty
	// MemoryHost).
	Host func(t testing.TB) sdk.Host
	// Answer returns the correct answer to ch, the challenge the backend
	// has just prepared for req: the code it delivered (which the test
	// captures from its sender, such as an httptest server), or a device's
	// proof. The suite calls it right after each PrepareChallenge, before
	// preparing another.
	Answer func(t testing.TB, req *authreq.Request, ch authreq.Challenge) authreq.Answer
	// SingleUse declares that a correct answer is valid once: the verdict
	// that accepts it returns a State under which it is valid no more.
	SingleUse bool
}

// Run runs the suite as subtests of t. It checks that:
//   - the plugin implements sdk.AuthorizationRequestBackend and has a name
//     and a version, and refuses an unknown configuration field;
//   - the correct answer is valid, and, with SingleUse, not again once
//     the State its verdict returned is stored;
//   - an empty answer is never valid, nor is a wrong one, and wrong
//     answers do not use the challenge up;
//   - an answer prepared for one generation is not valid for the next
//     (a reset kills the old code), nor for another request with the same
//     State;
//   - State is at most authreq.MaxState and holds no code in clear, and
//     Delivery names no code;
//   - bad answers (hostile strings, nil Credentials) get a Verdict, not an
//     error, and nothing fails on a request without Data; a state that is
//     not the challenge's never makes an answer valid.
func (s AuthorizationRequestSuite) Run(t *testing.T) {
	t.Run("Metadata", func(t *testing.T) {
		checkMetadata(t, StartUnconfigured(t, s.New(), s.host(t)), hostside.AuthorizationRequest, "sdk.AuthorizationRequestBackend")
	})

	t.Run("UnknownConfigFieldIsRejected", func(t *testing.T) {
		checkUnknownFieldRejected(t, StartUnconfigured(t, s.New(), s.host(t)), s.Config)
	})

	t.Run("CorrectAnswerIsValid", func(t *testing.T) {
		b := s.start(t)
		req := s.request("valid")
		ch, right := s.prepare(t, b, req)
		v := s.check(t, b, req, ch.State, right)
		if !v.Valid {
			t.Fatalf("the correct answer is not valid (reason %q)", v.Reason)
		}
		if !s.SingleUse {
			return
		}
		if v.State == nil {
			t.Fatal("SingleUse: the verdict accepting the answer returns no State to mark it used")
		}
		again := s.check(t, b, req, v.State, right)
		if again.Valid {
			t.Fatal("SingleUse: the correct answer is valid again once its verdict's State is stored")
		}
	})

	t.Run("EmptyAnswerIsNeverValid", func(t *testing.T) {
		b := s.start(t)
		req := s.request("empty")
		ch, right := s.prepare(t, b, req)
		empty := []authreq.Answer{{}, {Credentials: map[string]string{}}}
		for k := range right.Credentials {
			empty = append(empty, authreq.Answer{Credentials: map[string]string{k: ""}})
		}
		for _, a := range empty {
			if v := s.check(t, b, req, ch.State, a); v.Valid {
				t.Errorf("the empty answer %+v is valid", a)
			}
		}
	})

	t.Run("WrongAnswersAreNotValid", func(t *testing.T) {
		b := s.start(t)
		req := s.request("wrong")
		ch, right := s.prepare(t, b, req)
		state := ch.State
		for _, a := range append(wrongAnswers(right), hostileAnswers()...) {
			v := s.check(t, b, req, state, a)
			if v.Valid {
				t.Errorf("the wrong answer %s is valid", describe(a))
			}
			if v.State != nil {
				state = v.State // the host stores it
			}
		}
		// The host counts wrong answers and decides when they are too
		// many; the backend does not count them again.
		if v := s.check(t, b, req, state, right); !v.Valid {
			t.Errorf("after wrong answers, the correct answer is not valid (reason %q)", v.Reason)
		}
	})

	t.Run("ResetKillsTheOldAnswer", func(t *testing.T) {
		b := s.start(t)
		gen0 := s.request("reset")
		_, old := s.prepare(t, b, gen0)
		gen1 := new(authreq.Request)
		*gen1 = *gen0
		gen1.Generation = 1
		ch1, fresh := s.prepareAnother(t, b, gen1, old)
		if v := s.check(t, b, gen1, ch1.State, old); v.Valid {
			t.Error("the answer of generation 0 is valid for the challenge of generation 1")
		}
		if v := s.check(t, b, gen0, ch1.State, fresh); v.Valid {
			t.Error("the answer of generation 1 is valid for a check of generation 0")
		}
		if v := s.check(t, b, gen1, ch1.State, fresh); !v.Valid {
			t.Errorf("the answer of generation 1 is not valid for its own challenge (reason %q)", v.Reason)
		}
	})

	t.Run("AnswerIsBoundToItsRequest", func(t *testing.T) {
		b := s.start(t)
		mine := s.request("mine")
		chMine, answer := s.prepare(t, b, mine)
		other := s.request("other")
		if v := s.check(t, b, other, chMine.State, answer); v.Valid {
			t.Error("a request's state and answer are valid in a check of another request")
		}
		chOther, _ := s.prepareAnother(t, b, other, answer)
		if v := s.check(t, b, other, chOther.State, answer); v.Valid {
			t.Error("a request's answer is valid for another request's challenge")
		}
	})

	t.Run("StateHoldsNoCodeInClear", func(t *testing.T) {
		b := s.start(t)
		const tries = 5 // a short code can be in a state by chance; not in all
		inState, inDelivery, checked := 0, 0, 0
		for i := range tries {
			ch, right := s.prepare(t, b, s.request(fmt.Sprintf("clear-%d", i)))
			if len(right.Code) < 4 {
				continue
			}
			checked++
			if bytes.Contains(ch.State, []byte(right.Code)) {
				inState++
			}
			if strings.Contains(ch.Delivery, right.Code) {
				inDelivery++
			}
		}
		if checked == tries && inState == tries {
			t.Error("every challenge's State holds its code in clear")
		}
		if checked == tries && inDelivery == tries {
			t.Error("every challenge's Delivery names its code")
		}
	})

	t.Run("BadInputsGetAVerdict", func(t *testing.T) {
		b := s.start(t)
		req := s.request("nil-data")
		req.Data = nil
		ch, right := s.prepare(t, b, req)
		for _, a := range []authreq.Answer{{Code: right.Code}, {Code: right.Code + "0"}, {Code: "x", Credentials: nil}} {
			s.check(t, b, req, ch.State, a)
		}
		// A state that is not the challenge's: an error is allowed (the
		// backend cannot decide), a valid verdict is not.
		for _, state := range [][]byte{nil, {}, []byte("not a state"), ch.State[:len(ch.State)/2]} {
			v, err := b.CheckAnswer(context.Background(), req, state, right)
			if err == nil && v.Valid {
				t.Errorf("the correct answer is valid with the state %q", truncate(string(state)))
			}
		}
	})
}

func (s AuthorizationRequestSuite) host(t testing.TB) sdk.Host {
	if s.Host == nil {
		return NewMemoryHost()
	}
	return s.Host(t)
}

func (s AuthorizationRequestSuite) start(t *testing.T) sdk.AuthorizationRequestBackend {
	t.Helper()
	if s.Answer == nil {
		t.Fatal("AuthorizationRequestSuite needs Answer")
	}
	return Start(t, s.New(), s.Config, s.host(t)).AuthorizationRequestBackend()
}

// suiteRun tells the request ids of one run from another's, in case a
// test's Answer captures codes by request id across runs.
var suiteRun atomic.Int64

// request is a new request of the suite (generation 0), named name.
func (s AuthorizationRequestSuite) request(name string) *authreq.Request {
	return &authreq.Request{
		ID:          fmt.Sprintf("conformance-%d-%s", suiteRun.Add(1), name),
		Slug:        "2FA",
		UserID:      "u-alice",
		Username:    "alice",
		Title:       "Conformance check",
		Description: "sdktest.AuthorizationRequestSuite",
		Data:        json.RawMessage(`{"suite":"conformance"}`),
		ExpiresAt:   time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second),
	}
}

// prepare prepares a challenge for req and returns it with its correct
// answer.
func (s AuthorizationRequestSuite) prepare(t *testing.T, b sdk.AuthorizationRequestBackend, req *authreq.Request) (authreq.Challenge, authreq.Answer) {
	t.Helper()
	ch, err := b.PrepareChallenge(context.Background(), req)
	if err != nil {
		t.Fatalf("PrepareChallenge(%s, generation %d): %v", req.ID, req.Generation, err)
	}
	if len(ch.State) > authreq.MaxState {
		t.Fatalf("the challenge's State is %d bytes, more than authreq.MaxState", len(ch.State))
	}
	return ch, s.Answer(t, req, ch)
}

// prepareAnother prepares a challenge for req whose answer is not old:
// two random codes can be the same, though rarely thrice in a row.
func (s AuthorizationRequestSuite) prepareAnother(t *testing.T, b sdk.AuthorizationRequestBackend, req *authreq.Request, old authreq.Answer) (authreq.Challenge, authreq.Answer) {
	t.Helper()
	for range 3 {
		ch, a := s.prepare(t, b, req)
		if a.Code != old.Code || !maps.Equal(a.Credentials, old.Credentials) {
			return ch, a
		}
	}
	t.Fatalf("three challenges for %s (generation %d) in a row take the answer of another", req.ID, req.Generation)
	return authreq.Challenge{}, authreq.Answer{}
}

// check checks a against state for req; an error fails the test, since a
// bad answer is a verdict.
func (s AuthorizationRequestSuite) check(t *testing.T, b sdk.AuthorizationRequestBackend, req *authreq.Request, state []byte, a authreq.Answer) authreq.Verdict {
	t.Helper()
	v, err := b.CheckAnswer(context.Background(), req, state, a)
	if err != nil {
		t.Fatalf("CheckAnswer(%s) returned an error, not a verdict: %v", describe(a), err)
	}
	if !v.Valid && v.Reason == "" {
		t.Errorf("the verdict on %s is not valid and gives no reason", describe(a))
	}
	return v
}

// wrongAnswers are answers near right that must not be valid: one
// character changed, one added, one removed, one credential changed.
func wrongAnswers(right authreq.Answer) []authreq.Answer {
	var out []authreq.Answer
	if c := right.Code; c != "" {
		out = append(out,
			authreq.Answer{Code: changeOne(c), Credentials: right.Credentials},
			authreq.Answer{Code: c + c[len(c)-1:], Credentials: right.Credentials})
		if len(c) > 1 {
			out = append(out, authreq.Answer{Code: c[:len(c)-1], Credentials: right.Credentials})
		}
	}
	for k, v := range right.Credentials {
		if v == "" {
			continue
		}
		creds := maps.Clone(right.Credentials)
		creds[k] = changeOne(v)
		out = append(out, authreq.Answer{Code: right.Code, Credentials: creds})
	}
	return out
}

// changeOne changes the middle byte of s to '7', or to '3' if it is '7':
// digits that no normalization (case folding, O for 0) makes equal.
func changeOne(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == '7' {
		b[i] = '3'
	} else {
		b[i] = '7'
	}
	return string(b)
}

// hostileAnswers are answers no backend may accept, and must judge
// without an error.
func hostileAnswers() []authreq.Answer {
	return []authreq.Answer{
		{Code: strings.Repeat("9", 4096)},
		{Code: "nul\x00byte"},
		{Code: "ünïcödé-コード"},
		{Code: "' OR 1=1 --", Credentials: map[string]string{"": "", "signature": strings.Repeat("A", 4096)}},
	}
}

// describe names an answer in a failure without its whole content.
func describe(a authreq.Answer) string {
	keys := make([]string, 0, len(a.Credentials))
	for k := range a.Credentials {
		keys = append(keys, truncate(k))
	}
	return fmt.Sprintf("{Code: %q, Credentials: %v}", truncate(a.Code), keys)
}
