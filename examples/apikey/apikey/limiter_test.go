package apikey

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// keyLimit is a plugin of its own, not part of the apikey backend: its
// answer is a rule the host enforces. (A value that implements
// sdk.AttemptLimiter is a limiter in the chain, and nothing else.)
type keyLimit struct{}

func (keyLimit) Metadata() sdk.Metadata { return sdk.Metadata{Name: "keylimit", Version: "1.0.0"} }

func (keyLimit) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	return req.DecodeConfig(&struct{}{}) // no settings: refuse any
}

// AttemptRule implements sdk.AttemptLimiter: ten wrong attempts per
// username lock it for 15 minutes; every address gets 100.
func (keyLimit) AttemptRule() attempts.Rule {
	return attempts.Rule{Counters: []attempts.Counter{
		{Fields: []string{attempts.FieldUsername}, Tiers: []attempts.Tier{{Failures: 10, Cooloff: 15 * time.Minute}}},
		{Fields: []string{attempts.FieldIPAddress}, Tiers: []attempts.Tier{{Failures: 100, Cooloff: time.Hour}}},
	}}
}

func TestLimiterDeclaresItsRule(t *testing.T) {
	rule, err := sdktest.Start(t, keyLimit{}, nil, nil).AttemptRule(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rule.Counters) != 2 || rule.Counters[0].Limit() != 10 || rule.Counters[1].Limit() != 100 {
		t.Fatalf("the host read %+v", rule)
	}
}
