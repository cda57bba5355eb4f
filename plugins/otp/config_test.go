package otp

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
	"github.com/portcullis-auth/portcullis/sdk"
)

const hook = `"sender":{"webhook":"https://codes.example.com/send","secret":"a webhook secret of some length"}`

func TestParseConfig(t *testing.T) {
	s, err := ParseConfig(json.RawMessage(`{` + hook + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Length != DefaultLength || s.Alphabet != DefaultAlphabet || s.HashKey != nil || s.LogSender || len(s.Warnings) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	if s.Webhook != "https://codes.example.com/send" || string(s.WebhookKey) != "a webhook secret of some length" {
		t.Errorf("webhook %q, key %q", s.Webhook, s.WebhookKey)
	}

	s, err = ParseConfig(json.RawMessage(`{"length":10,"alphabet":"ABCDEF","hash_key":"0123456789abcdef0123456789abcdef",` + hook + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Length != 10 || s.Alphabet != "ABCDEF" || string(s.HashKey) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("settings: %+v", s)
	}

	s, err = ParseConfig(json.RawMessage(`{"sender":{"log":true},"development":true}`))
	if err != nil || !s.LogSender || len(s.Warnings) != 1 {
		t.Fatalf("the log sender in development: %+v, %v", s, err)
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name   string
		config string
		paths  []string
	}{
		{"no sender", `{}`, []string{"sender"}},
		{"unknown keys", `{"lenght":6,"sender":{"webhook":"https://x.example/","secret":"a webhook secret of some length","retries":3}}`, []string{"lenght", "sender.retries"}},
		{"wrong types", `{"length":"6","development":"yes",` + hook + `}`, []string{"development", "length"}},
		{"both senders", `{"sender":{"webhook":"https://x.example/","secret":"a webhook secret of some length","log":true},"development":true}`, []string{"sender"}},
		{"log without development", `{"sender":{"log":true}}`, []string{"sender.log"}},
		{"webhook without secret", `{"sender":{"webhook":"https://x.example/"}}`, []string{"sender.secret"}},
		{"secret without webhook", `{"sender":{"log":true,"secret":"a webhook secret of some length"},"development":true}`, []string{"sender.secret"}},
		{"short secret", `{"sender":{"webhook":"https://x.example/","secret":"short"}}`, []string{"sender.secret"}},
		{"bad whsec", `{"sender":{"webhook":"https://x.example/","secret":"whsec_!!!"}}`, []string{"sender.secret"}},
		{"not a URL", `{"sender":{"webhook":"ftp://x.example/","secret":"a webhook secret of some length"}}`, []string{"sender.webhook"}},
		{"no host", `{"sender":{"webhook":"https:///path","secret":"a webhook secret of some length"}}`, []string{"sender.webhook"}},
		{"short hash key", `{"hash_key":"too short",` + hook + `}`, []string{"hash_key"}},
		{"too short a code", `{"length":5,` + hook + `}`, []string{"length"}},
		{"too small an alphabet", `{"alphabet":"0123456",` + hook + `}`, []string{"alphabet"}},
		{"negative length", `{"length":-1,` + hook + `}`, []string{"length"}},
		{"too long", `{"length":65,` + hook + `}`, []string{"length"}},
		{"repeated character", `{"alphabet":"0123456789A1",` + hook + `}`, []string{"alphabet"}},
		{"space in alphabet", `{"alphabet":"0123456789 ",` + hook + `}`, []string{"alphabet"}},
		{"non-ASCII alphabet", `{"alphabet":"0123456789é",` + hook + `}`, []string{"alphabet"}},
		{"one character", `{"alphabet":"0","length":64,` + hook + `}`, []string{"alphabet"}},
		{"everything at once", `{"length":2,"hash_key":"k","sender":{"log":true,"secret":"s"}}`, []string{"hash_key", "length", "sender.log", "sender.secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(json.RawMessage(tt.config))
			var cfgErr *sdk.ConfigError
			if !errors.As(err, &cfgErr) {
				t.Fatalf("got %v, want a *sdk.ConfigError", err)
			}
			var paths []string
			for _, p := range cfgErr.Problems {
				paths = append(paths, p.Path)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tt.paths) {
				t.Fatalf("problems at %q, want %q: %v", paths, tt.paths, err)
			}
		})
	}
}

func TestConfigErrorsHoldNoSecret(t *testing.T) {
	// Secrets a problem could quote: the hash key, the webhook secret, a
	// URL's credentials.
	config := `{"hash_key":"hunter2key","sender":{"webhook":"gopher://user:pa55word@x.example/?token=t0ken","secret":"whsec_c2VjcmV0"}}`
	_, err := ParseConfig(json.RawMessage(config))
	if err == nil {
		t.Fatal("no problem")
	}
	for _, secret := range []string{"hunter2key", "pa55word", "t0ken", "c2VjcmV0"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q is in the error %v", secret, err)
		}
	}
}

func TestPlainHTTPWarns(t *testing.T) {
	for url, warns := range map[string]bool{
		"http://codes.example.com/send":   true,
		"http://127.0.0.1:8080/send":      false,
		"http://localhost:8080/send":      false,
		"http://[::1]/send":               false,
		"https://codes.example.com/send?": false,
	} {
		s, err := ParseConfig(json.RawMessage(`{"sender":{"webhook":"` + url + `","secret":"a webhook secret of some length"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(s.Warnings) == 1 && strings.Contains(s.Warnings[0], "plain http"); got != warns {
			t.Errorf("%s: warnings %q, want a plain-http warning: %v", url, s.Warnings, warns)
		}
	}
}

// The webhook secret works as a signal webhook's: the same key, the same
// signature, which the host's verifier accepts.
func TestWebhookSecretAsTheHosts(t *testing.T) {
	secrets := []string{
		"a webhook secret of some length",
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567")),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)),
		"whsec_not base64",
		"short",
		"",
	}
	for _, secret := range secrets {
		cfg, _ := json.Marshal(map[string]any{"sender": map[string]string{"webhook": "https://x.example/", "secret": secret}})
		s, ourErr := ParseConfig(cfg)
		var ours []byte
		if ourErr == nil {
			ours = s.WebhookKey
		}
		theirs, theirErr := webhooksig.Key(secret)
		if (ourErr == nil) != (theirErr == nil) || string(ours) != string(theirs) {
			t.Errorf("secret %q: key %x, %v; the host's %x, %v", secret, ours, ourErr, theirs, theirErr)
			continue
		}
		if ourErr != nil {
			continue
		}
		w, err := newWebhookSender("https://x.example/", ours)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(1_800_000_000, 0)
		body := []byte(`{"code":"123456"}`)
		sig, err := w.hook.Sign("otp_1", at, body)
		if err != nil {
			t.Fatal(err)
		}
		if want := webhooksig.Sign(theirs, "otp_1", at, body); sig != want {
			t.Errorf("secret %q: signature %s, the host's %s", secret, sig, want)
		}
		h := http.Header{}
		h.Set(webhooksig.HeaderID, "otp_1")
		h.Set(webhooksig.HeaderTimestamp, webhooksig.Timestamp(at))
		h.Set(webhooksig.HeaderSignature, sig)
		v := webhooksig.Verifier{Key: theirs, Now: func() time.Time { return at }}
		if err := v.Verify(h, body); err != nil {
			t.Errorf("secret %q: the host's verifier: %v", secret, err)
		}
	}
}
