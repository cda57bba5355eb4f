package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Values planted in webhook URLs' user information, query and fragment.
var plantedInURLs = []string{"plantedUser7q", "plantedPass7q", "plantedToken7q", "plantedQuery7q", "plantedFrag7q"}

// plantedURL returns a URL to path at hostport that carries every planted
// value.
func plantedURL(hostport, path string) string {
	return "http://plantedUser7q:plantedPass7q@" + hostport + path + "?token=plantedToken7q&x=plantedQuery7q#plantedFrag7q"
}

// checkNoPlanted fails the test for every planted value in text.
func checkNoPlanted(t *testing.T, where, text string) {
	t.Helper()
	for _, p := range plantedInURLs {
		if strings.Contains(text, p) {
			t.Errorf("%s shows %q:\n%s", where, p, text)
		}
	}
}

// TestWebhookURLSecretsStayOutOfLogsAndOutbox: webhooks whose URLs carry
// credentials fail every way (connection refused, a 5xx, a timeout; async
// until dead, and sync). Neither the host's log, nor any stored outbox row,
// nor `signals list`, nor `config check` shows a planted value; a last
// error stored in the old, unredacted form is shown redacted too.
func TestWebhookURLSecretsStayOutOfLogsAndOutbox(t *testing.T) {
	dir := t.TempDir()
	// Port 1 (tcpmux) has no listener: a closed listener's port could be
	// given to another test's server meanwhile, and answer.
	refused := "127.0.0.1:1"
	var sawCredentials atomic.Bool
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); u == "plantedUser7q" && p == "plantedPass7q" && r.URL.Query().Get("token") == "plantedToken7q" {
			sawCredentials.Store(true)
		}
		http.Error(w, "down: "+r.URL.String(), http.StatusInternalServerError)
	}))
	defer failing.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hanging.Close()
	defer close(release)

	cfg := writeConfig(t, dir, fmt.Sprintf(`
storage: {driver: sqlite, dsn: ./portcullis.db}
signals:
  subscribers:
    - {webhook: %q, secret: %q, signals: [user_login_failed]}
    - {webhook: %q, secret: %q, signals: [user_login_failed]}
    - {webhook: %q, secret: %q, signals: [user_login_failed], timeout: 300ms}
    - {webhook: %q, secret: %q, signals: [user_login_failed], mode: sync, timeout: 300ms}
  delivery: {backoff: 50ms, backoff_max: 100ms, poll: 50ms, max_attempts: 3}
`, plantedURL(refused, "/hook"), hookSecret,
		plantedURL(strings.TrimPrefix(failing.URL, "http://"), "/hook"), hookSecret,
		plantedURL(strings.TrimPrefix(hanging.URL, "http://"), "/hook"), hookSecret,
		plantedURL(refused, "/sync-hook"), hookSecret))
	checkNoPlanted(t, "config check", mustRun(t, cfg, "", "config", "check"))
	h := startHost(t, cfg)
	if r := h.login("ghost", "nope"); r.status != 401 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	waitFor(t, "three dead letters", 20*time.Second, func() bool {
		return strings.Count(mustRun(t, cfg, "", "signals", "list", "--dead"), " dead ") == 3
	})
	if !sawCredentials.Load() {
		t.Error("the requests did not carry the URL's credentials")
	}

	list := mustRun(t, cfg, "", "signals", "list")
	dead := mustRun(t, cfg, "", "signals", "list", "--dead")
	for _, want := range []string{
		"POST http://" + refused + "/hook?…: dial tcp",
		"webhook answered 500 Internal Server Error",
		"POST " + hanging.URL + "/hook?…: context deadline exceeded",
		"webhook:http://" + refused + "/hook ", // the default name
	} {
		if !strings.Contains(dead, want) {
			t.Errorf("signals list --dead does not say %q:\n%s", want, dead)
		}
	}
	checkNoPlanted(t, "signals list", list)
	checkNoPlanted(t, "signals list --dead", dead)
	// The sync failure is in the log, its URL shown.
	h.kill(syscall.SIGTERM)
	log := h.output()
	if !strings.Contains(log, "POST http://"+refused+"/sync-hook?…: dial tcp") {
		t.Errorf("the log does not report the sync webhook's failure with its URL shown:\n%s", log)
	}
	checkNoPlanted(t, "the host's log", log)

	// Every stored byte: the database and its write-ahead log.
	files, _ := filepath.Glob(filepath.Join(dir, "portcullis.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkNoPlanted(t, filepath.Base(f), string(raw))
	}
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "portcullis.db"))
	rows, err := store.ListDeliveries(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		b, _ := json.Marshal(r)
		checkNoPlanted(t, "an outbox row", string(b))
	}

	// A last error stored unredacted (as it once was) is shown redacted.
	sig := sdk.Signal{ID: uuid.NewString(), Name: "user_login_failed", Sender: "local", Time: time.Now(), Args: json.RawMessage(`{}`)}
	if err := store.Enqueue(context.Background(), sig, []string{"older"}); err != nil {
		t.Fatal(err)
	}
	claimed, err := store.Claim(context.Background(), "test", 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim = %v, %v; want the one row", claimed, err)
	}
	old := `webhook: Post "` + strings.Replace(plantedURL(refused, "/hook"), "plantedPass7q", "***", 1) + `": dial tcp ` + refused + `: connect: connection refused`
	if err := store.MarkFailed(context.Background(), claimed[0].ID, "test", old, time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	dead = mustRun(t, cfg, "", "signals", "list", "--dead")
	if !strings.Contains(dead, `webhook: Post "http://`+refused+`/hook?…": dial tcp`) {
		t.Errorf("signals list --dead does not show the older row's error redacted:\n%s", dead)
	}
	checkNoPlanted(t, "signals list --dead, with an older row", dead)
}
