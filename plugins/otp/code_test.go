package otp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func TestNewCodeRejectsBiasedBytes(t *testing.T) {
	// Ten characters: 250 of the 256 byte values map evenly (25 each);
	// 250 to 255 would favour 0 to 5 and are drawn again.
	src := bytes.NewReader(append([]byte{250, 255, 0, 9, 249, 10, 251, 123}, make([]byte, 64)...))
	code, err := newCode(src, 5, "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if code != "09903" {
		t.Fatalf("code %q, want 09903", code)
	}
	if _, err := newCode(bytes.NewReader(bytes.Repeat([]byte{255}, 20)), 5, "0123456789"); err == nil {
		t.Fatal("a source that runs dry gave a code")
	}
}

func TestNewCodeIsUniform(t *testing.T) {
	// 60,000 digits from crypto/rand: each within 5 standard deviations
	// of a tenth (1 in 3.5 million runs falls outside by chance).
	const n = 60_000
	code, err := newCode(rand.Reader, n, DefaultAlphabet)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(n) / 10
	sd := math.Sqrt(n * 0.1 * 0.9)
	for _, d := range DefaultAlphabet {
		if got := float64(strings.Count(code, string(d))); math.Abs(got-want) > 5*sd {
			t.Errorf("digit %c: %v times, want %v ± %v", d, got, want, 5*sd)
		}
	}
	for _, alphabet := range []string{"AB", "ABCDEFGHJKMNPQRSTVWXYZ23456789", strings.Repeat("x", 1)} {
		code, err := newCode(rand.Reader, 12, alphabet)
		if len(alphabet) < 2 {
			if err == nil {
				t.Errorf("an alphabet of one: %q", code)
			}
			continue
		}
		if err != nil || len(code) != 12 || strings.Trim(code, alphabet) != "" {
			t.Errorf("alphabet %q: %q, %v", alphabet, code, err)
		}
	}
}

func TestCodeMACSeparatesItsInputs(t *testing.T) {
	key := []byte("k")
	type in struct {
		id   string
		gen  int
		code string
	}
	// Inputs whose plain concatenations would collide.
	inputs := []in{{"r1", 0, "123"}, {"r", 10, "123"}, {"r1", 1, "23"}, {"r11", 0, "23"}, {"r1", 0, "1234"}, {"r1", -1, "123"}}
	seen := map[string]in{}
	for _, i := range inputs {
		m := string(codeMAC(key, i.id, i.gen, i.code))
		if prev, ok := seen[m]; ok {
			t.Errorf("%+v and %+v hash alike", prev, i)
		}
		seen[m] = i
	}
	if bytes.Equal(codeMAC([]byte("k1"), "r", 0, "1"), codeMAC([]byte("k2"), "r", 0, "1")) {
		t.Error("two keys hash alike")
	}
}

func TestStateRoundTrip(t *testing.T) {
	st := state{Version: stateVersion, RequestID: "r\"1", Generation: 7, MAC: make([]byte, 32), Used: true}
	got, err := decodeState(st.encode())
	if err != nil || got.RequestID != st.RequestID || got.Generation != 7 || !got.Used {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, raw := range []string{"", "null", "{}", `{"v":1,"mac":"AAAA"}`, `{"v":2,"mac":"` + strings.Repeat("A", 43) + `="}`, "[1]"} {
		if _, err := decodeState([]byte(raw)); !errors.Is(err, errNotAState) {
			t.Errorf("state %q: %v", raw, err)
		}
	}
}

// FuzzParseConfig: any configuration is either settings the plugin can
// use, within their bounds and with one sender, or problems at their
// paths.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{` + hook + `}`,
		`{"length":8,"alphabet":"ABCDEFGH","hash_key":"0123456789abcdef0123456789abcdef",` + hook + `}`,
		`{"sender":{"log":true},"development":true}`,
		`{"sender":{"log":true}}`,
		`{"sender":{"webhook":"http://u:p@h/?q","secret":"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`,
		`{"length":1,"alphabet":"\u0000\u0001"}`,
		`{"length":64,"alphabet":"01",` + hook + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseConfig(json.RawMessage(raw))
		if err != nil {
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("ParseConfig(%q) = %v, want a configuration error", raw, err)
			}
			return
		}
		if s.Length < 1 || s.Length > MaxLength || !allows(len(s.Alphabet), s.Length, MinCodes) {
			t.Fatalf("accepted a code of %d characters of %q", s.Length, s.Alphabet)
		}
		if s.LogSender == (s.Webhook != "") || (s.Webhook != "" && len(s.WebhookKey) == 0) {
			t.Fatalf("accepted senders %+v", s)
		}
		if s.HashKey != nil && len(s.HashKey) < MinHashKeyBytes {
			t.Fatalf("accepted a hash key of %d bytes", len(s.HashKey))
		}
		if _, err := newCode(rand.Reader, s.Length, s.Alphabet); err != nil {
			t.Fatalf("accepted settings that draw no code: %v", err)
		}
	})
}

// FuzzCheckAnswer: of every answer a user can type, only the code is
// valid.
func FuzzCheckAnswer(f *testing.F) {
	const code = "042917"
	p := quiet()
	if err := p.Configure(context.Background(), &sdk.ConfigureRequest{
		Config: json.RawMessage(`{"sender":{"log":true},"development":true,"hash_key":"0123456789abcdef0123456789abcdef"}`),
		Host:   sdktest.NewMemoryHost(),
	}); err != nil {
		f.Fatal(err)
	}
	p.random = bytes.NewReader(append([]byte{0, 4, 2, 9, 1, 7}, make([]byte, 8)...)) // newCode reads 8 more
	req := &authreq.Request{ID: "fuzz", Generation: 3}
	ch, err := p.PrepareChallenge(context.Background(), req)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{code, "", "42917", "0429170", " 042917", "042918", "０４２９１７"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		v, err := p.CheckAnswer(context.Background(), req, ch.State, authreq.Answer{Code: answer})
		if err != nil {
			t.Fatal(err)
		}
		if v.Valid != (answer == code) {
			t.Fatalf("answer %q: valid %v", answer, v.Valid)
		}
	})
}
