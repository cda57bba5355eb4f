package hostside

import (
	"fmt"
	"slices"
	"testing"
)

// A plugin in another language may repeat a role: repeats are one role,
// counted once against the bound, as the host's storage counts them.
func TestIdentityRolesCountsDistinctRoles(t *testing.T) {
	distinct := make([]string, maxIdentityRoles)
	for i := range distinct {
		distinct[i] = fmt.Sprintf("r%02d", i)
	}
	withRepeats := append(slices.Clone(distinct), distinct[0], distinct[1])
	got, err := identityRoles(withRepeats)
	if err != nil || !slices.Equal(got, distinct) {
		t.Fatalf("%d roles with repeats: %v, %v; want the %d distinct ones", len(withRepeats), len(got), err, maxIdentityRoles)
	}
	if _, err := identityRoles(append(distinct, "one-more")); err == nil {
		t.Fatalf("%d distinct roles were accepted", maxIdentityRoles+1)
	}
	if _, err := identityRoles([]string{"ops", "bad role"}); err == nil {
		t.Fatal("a role with a space was accepted")
	}
}
