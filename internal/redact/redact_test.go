package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://siem.example.com/hook", "https://siem.example.com/hook"},
		{"https://user:pass@siem.example.com/hook?token=t0k#frag", "https://siem.example.com/hook?…"},
		{"https://tokenonly@siem.example.com/hook", "https://siem.example.com/hook"},
		{"https://:pass@siem.example.com/", "https://siem.example.com/"},
		{"http://user:p%40ss@127.0.0.1:8443/a/b?x=1&y=2", "http://127.0.0.1:8443/a/b?…"},
		{"https://siem.example.com/hook?", "https://siem.example.com/hook?…"},
		{"https://siem.example.com/hook#frag", "https://siem.example.com/hook"},
		{"https://siem.example.com", "https://siem.example.com"},
		{"https://[2001:db8::1]:443/hook?k=v", "https://[2001:db8::1]:443/hook?…"},
		{"https://siem.example.com/a%2Fb?k=v", "https://siem.example.com/a%2Fb?…"},
		{"mailto:user:secret@example.com", "mailto:…"},
		{"https://user:secret@host:notaport/", Unparsable},
		{"https://user:sec%zzret@siem.example.com/", Unparsable},
		{"://not a url", Unparsable},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := URL(tt.raw); got != tt.want {
				t.Fatalf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"net/http's error",
			`Post "http://plantuser:***@127.0.0.1:9/hook?token=planttok": dial tcp 127.0.0.1:9: connect: connection refused`,
			`Post "http://127.0.0.1:9/hook?…": dial tcp 127.0.0.1:9: connect: connection refused`},
		{"two URLs, one quoted with ''",
			`from https://a:b@x.example/p?q=1 to 'http://c@y.example/r#s'`,
			`from https://x.example/p?… to 'http://y.example/r'`},
		{"an escaped quote after the URL",
			`error="Post \"https://u:plantpass@h.example/x?t=planttok\": EOF"`,
			`error="Post \"https://h.example/x?…\": EOF"`},
		{"a URL that cannot be parsed",
			`Post "https://plantuser:plant%zzpass@h.example/": bad`,
			`Post "` + Unparsable + `": bad`},
		{"punctuation after a URL",
			`POST https://u:plantpass@h.example/x?t=planttok: EOF (see https://plantuser@h.example/y).`,
			`POST https://h.example/x?…: EOF (see https://h.example/y).`},
		{"already shown", `POST http://127.0.0.1:9/hook?…: dial tcp`, `POST http://127.0.0.1:9/hook?…: dial tcp`},
		{"no URL", "webhook answered 503 Service Unavailable", "webhook answered 503 Service Unavailable"},
		{"an address is not a URL", "dial tcp 127.0.0.1:9: connect: connection refused", "dial tcp 127.0.0.1:9: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := URLs(tt.text)
			if got != tt.want {
				t.Fatalf("URLs(%q)\n = %q\nwant %q", tt.text, got, tt.want)
			}
			if strings.Contains(got, "plant") {
				t.Fatalf("a planted value is left in %q", got)
			}
			if again := URLs(got); again != got {
				t.Fatalf("URLs is not idempotent: %q, then %q", got, again)
			}
		})
	}
}
