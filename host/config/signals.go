package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
	"github.com/portcullis-auth/portcullis/internal/redact"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Signals configures who receives the host's signals and how.
type Signals struct {
	Subscribers []Subscriber `json:"subscribers"`
	Delivery    Delivery     `json:"delivery"`
	// PluginTimeout bounds one delivery to a backend plugin that subscribed
	// in its metadata (delivered asynchronously, through the outbox).
	PluginTimeout Duration `json:"plugin_timeout"`
}

// Subscriber is one receiver of signals: exactly one of Webhook, AuditFile
// or Plugin.
type Subscriber struct {
	// Name identifies the subscriber in the outbox; it must stay the same
	// across restarts and be the same on every host (default: derived from
	// the target).
	Name string `json:"name"`
	// Webhook is an http(s) URL that receives each signal as a signed POST.
	Webhook string `json:"webhook"`
	// Secret keys the webhook's Standard Webhooks signature: "whsec_" and a
	// base64 key of 24 to 64 bytes, or any other string of at least 16
	// characters, whose bytes are the key (webhooksig.Key).
	Secret string `json:"secret"`
	// AuditFile is a file that receives each signal as a JSON line.
	AuditFile string `json:"audit_file"`
	// Plugin is a signal-receiver plugin: a first-party name or a path.
	Plugin string `json:"plugin"`
	// SHA256 is the external plugin's checksum.
	SHA256 string `json:"sha256"`
	// Config is handed to the plugin.
	Config map[string]any `json:"config"`
	// Sandbox lists what the plugin may reach of the file system beyond
	// the system's files.
	Sandbox PluginSandbox `json:"sandbox"`
	// Signals selects signal names ("*" for all). For a plugin it narrows
	// the plugin's own subscriptions; for others it is required.
	Signals []string `json:"signals"`
	// Sender, if set, selects only signals from that sender (e.g. "2FA").
	Sender string `json:"sender"`
	// Mode is sync (in the request, with Timeout) or async (durable outbox).
	Mode string `json:"mode"`
	// Timeout bounds one delivery.
	Timeout Duration `json:"timeout"`
}

// Delivery tunes async delivery.
type Delivery struct {
	MaxAttempts     int      `json:"max_attempts"`
	Backoff         Duration `json:"backoff"`
	BackoffMax      Duration `json:"backoff_max"`
	Lease           Duration `json:"lease"`
	Poll            Duration `json:"poll"`
	BatchSize       int      `json:"batch_size"`
	RetainDelivered Duration `json:"retain_delivered"`
}

func (s *Signals) applyDefaults() {
	d := &s.Delivery
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 10
	}
	if d.BatchSize == 0 {
		d.BatchSize = 100
	}
	setDefault(&d.Backoff, time.Second)
	setDefault(&d.BackoffMax, 5*time.Minute)
	setDefault(&d.Lease, time.Minute)
	setDefault(&d.Poll, time.Second)
	setDefault(&d.RetainDelivered, 24*time.Hour)
	setDefault(&s.PluginTimeout, time.Second)
	for i := range s.Subscribers {
		sub := &s.Subscribers[i]
		if sub.Mode == "" {
			sub.Mode = "async"
		}
		if sub.Timeout == 0 {
			if sub.Mode == "sync" {
				sub.Timeout = Duration(time.Second)
			} else {
				sub.Timeout = Duration(5 * time.Second)
			}
		}
		if sub.Name == "" {
			switch {
			case sub.Webhook != "":
				sub.Name = "webhook:" + redactURL(sub.Webhook)
			case sub.AuditFile != "":
				sub.Name = "audit_file:" + sub.AuditFile
			case sub.Plugin != "":
				sub.Name = "plugin:" + sub.Plugin
			}
		}
	}
}

func (s *Signals) validate(backendNames map[string]int) []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	d := s.Delivery
	if d.MaxAttempts < 1 {
		fail("signals.delivery.max_attempts", "must be > 0")
	}
	if d.BatchSize < 1 || d.BatchSize > 1000 {
		fail("signals.delivery.batch_size", "must be between 1 and 1000")
	}
	for path, v := range map[string]Duration{
		"signals.delivery.backoff": d.Backoff, "signals.delivery.lease": d.Lease, "signals.delivery.poll": d.Poll,
		"signals.delivery.retain_delivered": d.RetainDelivered, "signals.plugin_timeout": s.PluginTimeout,
	} {
		if v <= 0 {
			fail(path, "must be > 0")
		}
	}
	if d.BackoffMax < d.Backoff {
		fail("signals.delivery.backoff_max", "must be >= signals.delivery.backoff")
	}
	if s.PluginTimeout >= d.Lease {
		fail("signals.plugin_timeout", "must be shorter than signals.delivery.lease (%s), or a slow delivery could be claimed again by another host", d.Lease.D())
	}
	names := map[string]int{}
	for i, sub := range s.Subscribers {
		path := fmt.Sprintf("signals.subscribers[%d]", i)
		targets := 0
		for _, set := range []string{sub.Webhook, sub.AuditFile, sub.Plugin} {
			if set != "" {
				targets++
			}
		}
		if targets != 1 {
			fail(path, "needs exactly one of webhook, audit_file or plugin")
		}
		if j, dup := names[sub.Name]; dup && sub.Name != "" {
			fail(path+".name", "%q is already the name of signals.subscribers[%d]", sub.Name, j)
		}
		names[sub.Name] = i
		if sub.Plugin != "" {
			if _, clash := backendNames[sub.Name]; clash {
				fail(path+".name", "%q is also a backend's name", sub.Name)
			}
			ps = append(ps, validatePlugin(path, Backend{Plugin: sub.Plugin, SHA256: sub.SHA256, Config: sub.Config, Sandbox: sub.Sandbox})...)
		} else {
			if sub.SHA256 != "" || sub.Config != nil || sub.Sandbox.Read != nil || sub.Sandbox.Write != nil {
				fail(path, "sha256, config and sandbox are only for a plugin subscriber")
			}
			if len(sub.Signals) == 0 {
				fail(path+".signals", "must list the signals to receive (\"*\" for all)")
			}
		}
		if sub.Webhook != "" {
			// The URL may hold credentials: a problem shows it redacted.
			u, err := url.Parse(sub.Webhook)
			switch {
			case err != nil:
				fail(path+".webhook", "must be an http or https URL; this one cannot be parsed (it is not shown: it may hold credentials)")
			case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				fail(path+".webhook", "must be an http or https URL, not %q", redact.URL(sub.Webhook))
			}
			if sub.Secret == "" {
				fail(path+".secret", "is required for a webhook (use ${ENV})")
			} else if _, err := webhooksig.Key(sub.Secret); err != nil {
				fail(path+".secret", "%s", strings.TrimPrefix(err.Error(), webhooksig.ErrInvalidSecret.Error()+": "))
			}
		} else if sub.Secret != "" {
			fail(path+".secret", "is only for a webhook")
		}
		for j, name := range sub.Signals {
			if !signals.Known(name) && name != "*" && !customSignal.MatchString(name) {
				fail(fmt.Sprintf("%s.signals[%d]", path, j), "unknown signal %q", name)
			}
		}
		switch sub.Mode {
		case "sync", "async":
		default:
			fail(path+".mode", "must be sync or async, not %q", sub.Mode)
		}
		if sub.Timeout <= 0 {
			fail(path+".timeout", "must be > 0")
		}
		if sub.Mode == "async" && sub.Timeout >= d.Lease {
			fail(path+".timeout", "must be shorter than signals.delivery.lease (%s), or a slow delivery could be claimed again by another host", d.Lease.D())
		}
	}
	return ps
}

// redactURL drops the user information, query and fragment of a URL, which
// may hold credentials, so that a subscriber's default name (shown in logs,
// metrics and `signals list`) never does. Unlike redact.URL it leaves no
// mark of a query: a default name must stay what it has been, or queued
// deliveries would lose their subscriber.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
