package hostsvc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// storageSuite is the SDK's storage suite on a plugin's storage, over the
// wire to hostsvc on fresh databases from newDB. The same instance on a
// second host process is a second handle on its data; another instance is
// another namespace.
func storageSuite(newDB func(t testing.TB) database) sdktest.StorageSuite {
	return sdktest.StorageSuite{New: func(t testing.TB) sdktest.StorageUnderTest {
		db := newDB(t)
		first, second := newHost(t, db), newHost(t, db)
		clk := sdktest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		kv := func(h *testHost, instance string) sdk.Storage {
			return h.pluginWithClock(t, instance, role{}, clk).Storage()
		}
		return sdktest.StorageUnderTest{
			Storage:        kv(first, "suite"),
			SecondHandle:   kv(second, "suite"),
			OtherNamespace: kv(first, "suite-other"),
			Clock:          clk,
		}
	}}
}

// testNamespaces: a plugin's storage is its instance's, even for instance
// names that are prefixes of each other, and the same on every host.
func testNamespaces(t *testing.T, db database) {
	h := newHost(t, db)
	names := []string{"alpha", "alphabet", "beta"}
	kvs := map[string]sdk.Storage{}
	for _, name := range names {
		kv := h.storage(t, name)
		kvs[name] = kv
		put(t, kv, "shared", name)
		put(t, kv, "only-"+name, name)
	}
	for _, name := range names {
		if got, want := keys(t, kvs[name], ""), "only-"+name+",shared"; got != want {
			t.Errorf("%s lists %s, want %s", name, got, want)
		}
		if got := value(t, kvs[name], "shared"); got != name {
			t.Errorf("%s reads shared = %q", name, got)
		}
	}

	// The same instance on another host process has the same namespace.
	again := newHost(t, db).storage(t, "alpha")
	if got := keys(t, again, ""); got != "only-alpha,shared" {
		t.Errorf("alpha on a second host lists %s", got)
	}
}

func put(t testing.TB, kv sdk.Storage, key, value string) {
	t.Helper()
	if err := kv.Put(context.Background(), key, []byte(value), 0); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func value(t testing.TB, kv sdk.Storage, key string) string {
	t.Helper()
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(e.Value)
}

// keys lists the keys under prefix, comma-separated.
func keys(t testing.TB, kv sdk.Storage, prefix string) string {
	t.Helper()
	entries, err := kv.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	ks := make([]string, len(entries))
	for i, e := range entries {
		ks[i] = e.Key
	}
	return strings.Join(ks, ",")
}
