package password

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TestRehashReport: the report counts users per kind of hash, names those
// whose hash is to be replaced or unusable, gives the kind logins cost,
// and holds no hash.
func TestRehashReport(t *testing.T) {
	host := legacyHost(t) // alice, carol: current; django: pbkdf2; bob: bcrypt; nohash; md5
	dave, _ := Hash("dave-pw", Argon2Params{MemoryKiB: 32, Iterations: 1, Parallelism: 1})
	host.AddUser(sdk.User{Username: "dave", PasswordHash: dave})
	b, _, _ := timedBackend(t, host)
	var resp sdk.AdminResponse
	if err := b.Admin(context.Background(), &sdk.AdminRequest{Command: CommandRehashReport}, &resp); err != nil {
		t.Fatal(err)
	}
	var got RehashReport
	if err := json.Unmarshal(resp.Result, &got); err != nil {
		t.Fatal(err)
	}
	want := RehashReport{
		Users: 7,
		Kinds: []KindReport{
			{Kind: CurrentKind(fastParams), State: StateCurrent, Users: 2},
			{Kind: Kind{FormatArgon2id, "m=32,t=1,p=1"}, State: StateRehash, Users: 1, Usernames: []string{"dave"}},
			{Kind: Kind{FormatBcrypt, "4"}, State: StateRehash, Users: 1, Usernames: []string{"bob"}},
			{Kind: Kind{FormatDjangoPBKDF2, "10000"}, State: StateRehash, Users: 1, Usernames: []string{"django"}},
			{Kind: Kind{Format: FormatNone}, State: StateUnusable, Users: 1, Usernames: []string{"nohash"}},
			{Kind: Kind{Format: FormatUnknown}, State: StateUnusable, Users: 1, Usernames: []string{"md5"}},
		},
		Floor:   Kind{FormatBcrypt, "4"},
		FloorMS: 240,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n got %+v\nwant %+v", got, want)
	}
	if resp.Message != "7 user(s): 3 hash(es) to replace, 2 without a usable hash." {
		t.Errorf("message %q", resp.Message)
	}
	for _, u := range []string{"alice", "bob", "carol", "django", "dave"} {
		stored, _ := host.User(u)
		for _, secret := range secretParts(stored.PasswordHash) {
			if strings.Contains(string(resp.Result), secret) || strings.Contains(resp.Message, secret) {
				t.Errorf("the report holds a salt or key of %s's hash: %q", u, secret)
			}
		}
	}
}

// secretParts returns the salt and the key of a stored hash.
func secretParts(stored string) []string {
	parts := strings.Split(stored, "$")
	switch KindOf(stored).family() {
	case "argon2id", "pbkdf2_sha256":
		return parts[len(parts)-2:]
	case "bcrypt":
		last := parts[len(parts)-1]
		return []string{last[:22], last[22:]}
	}
	return nil
}
