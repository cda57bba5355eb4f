package sdktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// codeBackend is a small one-time-code backend: it "delivers" each code
// by recording it, and keeps only a keyed hash of it in the State.
type codeBackend struct {
	// big makes every State larger than authreq.MaxState.
	big bool
	// validateEmpty judges every empty answer valid.
	validateEmpty bool

	mu        sync.Mutex
	delivered map[string]string // request id -> last code
}

type codeState struct {
	ID   string `json:"id"`
	Gen  int    `json:"gen"`
	MAC  []byte `json:"mac"`
	Used bool   `json:"used"`
	Pad  string `json:"pad,omitempty"`
}

var codeKey = []byte("sdktest code backend key, not a secret")

func codeMAC(id string, gen int, code string) []byte {
	m := hmac.New(sha256.New, codeKey)
	fmt.Fprintf(m, "%d:%s|%d|%s", len(id), id, gen, code)
	return m.Sum(nil)
}

func (b *codeBackend) Metadata() sdk.Metadata { return sdk.Metadata{Name: "codes", Version: "test"} }

func (b *codeBackend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{})
}

func (b *codeBackend) PrepareChallenge(_ context.Context, req *authreq.Request) (authreq.Challenge, error) {
	code := fmt.Sprintf("%06d", rand.IntN(1000000)) // a test's: crypto/rand in a real one
	st := codeState{ID: req.ID, Gen: req.Generation, MAC: codeMAC(req.ID, req.Generation, code)}
	if b.big {
		st.Pad = strings.Repeat("x", authreq.MaxState)
	}
	state, err := json.Marshal(st)
	if err != nil {
		return authreq.Challenge{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.delivered == nil {
		b.delivered = map[string]string{}
	}
	b.delivered[req.ID] = code
	return authreq.Challenge{State: state, Delivery: "test"}, nil
}

func (b *codeBackend) CheckAnswer(_ context.Context, req *authreq.Request, state []byte, a authreq.Answer) (authreq.Verdict, error) {
	if b.validateEmpty && a.Code == "" {
		return authreq.Verdict{Valid: true}, nil
	}
	var st codeState
	if err := json.Unmarshal(state, &st); err != nil {
		return authreq.Verdict{}, fmt.Errorf("%w: not a state of this backend", sdk.ErrInvalidArgument)
	}
	switch {
	case st.Used:
		return authreq.Verdict{Reason: "code_used"}, nil
	case a.Code == "" || st.ID != req.ID || st.Gen != req.Generation || !hmac.Equal(st.MAC, codeMAC(req.ID, req.Generation, a.Code)):
		return authreq.Verdict{Reason: "invalid_code"}, nil
	}
	st.Used = true
	used, err := json.Marshal(st)
	return authreq.Verdict{Valid: true, State: used}, err
}

func (b *codeBackend) answer(t testing.TB, req *authreq.Request, _ authreq.Challenge) authreq.Answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	code, ok := b.delivered[req.ID]
	if !ok {
		t.Fatalf("no code delivered for %s", req.ID)
	}
	return authreq.Answer{Code: code}
}

var _ sdk.AuthorizationRequestBackend = (*codeBackend)(nil)

func TestAuthorizationRequestSuite(t *testing.T) {
	b := &codeBackend{}
	AuthorizationRequestSuite{
		New:       func() sdk.Plugin { return b },
		Answer:    b.answer,
		SingleUse: true,
	}.Run(t)
}

// The host sees a State larger than authreq.MaxState as an error, and an
// empty answer judged valid as no decision, whatever the plugin says.
func TestTheHostRefusesWhatItMustNotStore(t *testing.T) {
	ctx := context.Background()
	req := &authreq.Request{ID: "r1"}

	big := Start(t, &codeBackend{big: true}, nil, nil).AuthorizationRequestBackend()
	if _, err := big.PrepareChallenge(ctx, req); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "more than 4096") {
		t.Errorf("an oversize state: %v, want sdk.ErrInvalidArgument naming the limit", err)
	}

	lax := Start(t, &codeBackend{validateEmpty: true}, nil, nil).AuthorizationRequestBackend()
	for _, a := range []authreq.Answer{{}, {Credentials: map[string]string{"signature": ""}}} {
		if v, err := lax.CheckAnswer(ctx, req, nil, a); !errors.Is(err, hostside.ErrNoDecision) {
			t.Errorf("an empty answer judged valid: %+v, %v; want hostside.ErrNoDecision", v, err)
		}
	}
}

func TestWrongAnswersDiffer(t *testing.T) {
	right := authreq.Answer{Code: "OIL7", Credentials: map[string]string{"signature": "abc", "empty": ""}}
	for _, w := range wrongAnswers(right) {
		if w.Code == right.Code && w.Credentials["signature"] == right.Credentials["signature"] {
			t.Errorf("wrong answer %+v is the right one", w)
		}
	}
	if got := len(wrongAnswers(right)); got != 4 {
		t.Errorf("%d wrong answers, want 4 (three codes, one signature)", got)
	}
	for in, want := range map[string]string{"1234": "1274", "7": "3", "ab7": "a77", "ab77": "ab37", "a": "7"} {
		if got := changeOne(in); got != want {
			t.Errorf("changeOne(%q) = %q, want %q", in, got, want)
		}
	}
}
