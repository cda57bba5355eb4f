package sdktest

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TimingCheck fails a backend whose answer for an unknown user comes
// measurably sooner, or later, than its answer for a known user with a
// wrong password: either difference tells anyone with a stopwatch which
// usernames exist. (Sooner is the backend that skips the hash for unknown
// users; later, the one whose known users have cheaper hashes than the
// dummy it verifies for unknown ones.) It is a statistical test over many
// tries, not a timed assertion: it times Tries answers of each kind,
// interleaved in random order so that whatever else loads the machine
// loads both alike, and fails when a Mann-Whitney U test says one kind
// answers sooner (p < 0.0005 in that direction, 0.001 for both) and its
// median answer is at least 10% sooner. A backend that answers both alike
// with a passwords.Checker (package sdk/passwords) passes.
//
//	func TestUnknownUsersTakeAsLong(t *testing.T) {
//		sdktest.TimingCheck{
//			New:     func() sdk.Plugin { return mybackend.New() },
//			Config:  config,
//			Known:   sdktest.Credentials{Username: "alice", Password: "wrong"},
//			Unknown: sdktest.Credentials{Username: "nobody", Password: "wrong"},
//		}.Run(t)
//	}
type TimingCheck struct {
	// New returns a fresh, unconfigured plugin.
	New func() sdk.Plugin
	// Config is a valid configuration for it (nil means "{}").
	Config json.RawMessage
	// Host returns the host the plugin runs against, seeded so that Known
	// is a user (nil means an empty MemoryHost).
	Host func(t testing.TB) sdk.Host
	// Known is a user the backend knows, with a wrong password.
	Known Credentials
	// Unknown is a user the backend does not know.
	Unknown Credentials
	// Tries is how many answers of each kind are timed; 0 means 40.
	Tries int
}

// The thresholds of TimingCheck: how unlikely the difference must be by
// chance in each direction, and how large, to fail a backend.
const (
	timingSignificance = 0.0005
	timingEffect       = 0.9
)

// Run runs the check and fails t when unknown users answer sooner.
func (c TimingCheck) Run(t testing.TB) {
	t.Helper()
	r := c.measure(t)
	switch {
	case r.unknownSooner():
		t.Errorf("unknown users are answered sooner than known users with a wrong password: median %v against %v "+
			"over %d tries each (one-sided Mann-Whitney p = %.2g): the time of an answer tells which usernames exist; "+
			"verify a dummy hash as costly as a stored one for unknown users (package sdk/passwords)",
			r.unknownMedian(), r.knownMedian(), len(r.known), r.pSooner)
	case r.knownSooner():
		t.Errorf("known users with a wrong password are answered sooner than unknown users: median %v against %v "+
			"over %d tries each (one-sided Mann-Whitney p = %.2g): the time of an answer tells which usernames exist; "+
			"make a cheaper stored hash wait as long as the dummy (passwords.Checker does)",
			r.knownMedian(), r.unknownMedian(), len(r.known), r.pLater)
	default:
		t.Logf("unknown users: median %v; known users with a wrong password: median %v (Mann-Whitney p = %.2g that unknown users are sooner, %.2g that they are later)",
			r.unknownMedian(), r.knownMedian(), r.pSooner, r.pLater)
	}
}

// timings are the answer times TimingCheck measured.
type timings struct {
	known, unknown []time.Duration
	// pSooner and pLater are the one-sided p-values that unknown users
	// are answered sooner, and later, than known ones.
	pSooner, pLater float64
}

func (r timings) knownMedian() time.Duration   { return medianOf(r.known) }
func (r timings) unknownMedian() time.Duration { return medianOf(r.unknown) }

func (r timings) unknownSooner() bool {
	return r.pSooner < timingSignificance && float64(r.unknownMedian()) < timingEffect*float64(r.knownMedian())
}

func (r timings) knownSooner() bool {
	return r.pLater < timingSignificance && float64(r.knownMedian()) < timingEffect*float64(r.unknownMedian())
}

// timingWarmup answers are not counted: the first calls over a new
// connection, and a backend's first verifications, are slower.
const timingWarmup = 3

func (c TimingCheck) measure(t testing.TB) timings {
	t.Helper()
	var host sdk.Host // nil: Start makes a MemoryHost
	if c.Host != nil {
		host = c.Host(t)
	}
	auth := Start(t, c.New(), c.Config, host).Authenticator()
	tries := c.Tries
	if tries <= 0 {
		tries = 40
	}
	time1 := func(cred Credentials) time.Duration {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		var resp sdk.AuthenticateResponse
		start := time.Now()
		err := auth.Authenticate(ctx, request(cred), &resp)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("user %q: Authenticate: %v", cred.Username, err)
		}
		if resp.Decision == sdk.DecisionIdentity {
			t.Fatalf("user %q: got an identity; TimingCheck needs credentials that fail", cred.Username)
		}
		return took
	}
	for range timingWarmup {
		time1(c.Known)
		time1(c.Unknown)
	}
	var r timings
	for range tries {
		if rand.IntN(2) == 0 {
			r.known = append(r.known, time1(c.Known))
			r.unknown = append(r.unknown, time1(c.Unknown))
		} else {
			r.unknown = append(r.unknown, time1(c.Unknown))
			r.known = append(r.known, time1(c.Known))
		}
	}
	r.pSooner, r.pLater = soonerP(r.unknown, r.known), soonerP(r.known, r.unknown)
	return r
}

// soonerP is the one-sided p-value of the Mann-Whitney U test that a's
// values tend to be smaller than b's: the normal approximation, with the
// correction for ties and for continuity. A small value says a is sooner.
func soonerP(a, b []time.Duration) float64 {
	type value struct {
		d     time.Duration
		fromA bool
	}
	all := make([]value, 0, len(a)+len(b))
	for _, d := range a {
		all = append(all, value{d, true})
	}
	for _, d := range b {
		all = append(all, value{d, false})
	}
	slices.SortFunc(all, func(x, y value) int { return int(x.d - y.d) })
	n1, n2, n := float64(len(a)), float64(len(b)), float64(len(all))
	var rankA, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].d == all[i].d {
			j++
		}
		rank := float64(i+j+1) / 2 // the mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankA += rank
			}
		}
		tied := float64(j - i)
		ties += tied*tied*tied - tied
		i = j
	}
	u := rankA - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sd == 0 {
		return 1
	}
	z := (u - mean + 0.5) / sd
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

func medianOf(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}
