package signals

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// readLines returns the file's lines; the file must end with a newline.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline: %q", path, data[max(0, len(data)-40):])
	}
	return strings.Split(string(data[:len(data)-1]), "\n")
}

func openAudit(t *testing.T, path string) *AuditFile {
	t.Helper()
	a, err := OpenAuditFile(path)
	if err != nil {
		t.Fatalf("OpenAuditFile(%s): %v", path, err)
	}
	return a
}

func TestAuditFileWritesOneLinePerSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "audit.jsonl")
	a := openAudit(t, path)
	defer a.Close()

	sigs := []*sdk.Signal{
		testSignal(),
		{ID: "id-2", Name: "acme.user_exported", Sender: "exporter", Origin: OriginPlugin, Time: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC),
			Args: json.RawMessage(`{"user_id":"u1","note":"multi\nline"}`)},
		{ID: "id-3", Name: "admin_auth_initialized", Sender: "host", Origin: OriginHost, Time: time.Date(2031, 1, 2, 3, 4, 6, 0, time.UTC)},
	}
	for _, s := range sigs {
		if err := a.Receive(context.Background(), s); err != nil {
			t.Fatalf("Receive(%s): %v", s.ID, err)
		}
	}
	lines := readLines(t, path)
	want := []string{
		`{"id":"6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11","name":"user_login_failed","sender":"ldap","origin":"host","time":"2031-07-14T10:30:45.123Z","args":{"username":"alice","client_ip":"192.0.2.7"}}`,
		`{"id":"id-2","name":"acme.user_exported","sender":"exporter","origin":"plugin","time":"2031-01-02T03:04:05Z","args":{"user_id":"u1","note":"multi\nline"}}`,
		`{"id":"id-3","name":"admin_auth_initialized","sender":"host","origin":"host","time":"2031-01-02T03:04:06Z","args":{}}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i], want[i])
		}
	}

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("audit file mode %o, want 600", perm)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v; want mode 700", st.Mode().Perm(), err)
	}
}

func TestAuditFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("{\"earlier\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // three opens, as three host starts
		a := openAudit(t, path)
		sig := testSignal()
		sig.ID = fmt.Sprintf("run-%d", i)
		if err := a.Receive(context.Background(), sig); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	lines := readLines(t, path)
	if len(lines) != 4 || lines[0] != `{"earlier":true}` {
		t.Fatalf("lines: %q; want the earlier line kept and three appended", lines)
	}
	for i, l := range lines[1:] {
		var env envelope
		if err := json.Unmarshal([]byte(l), &env); err != nil || env.ID != fmt.Sprintf("run-%d", i) {
			t.Errorf("line %d = %s (%v), want run-%d", i+2, l, err, i)
		}
	}
}

// TestAuditFileConcurrentReceives: lines written at once never interleave.
func TestAuditFileConcurrentReceives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a := openAudit(t, path)
	defer a.Close()
	const writers, each = 16, 25
	big := strings.Repeat("x", 16<<10) // larger than a pipe buffer or a page
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				args, _ := json.Marshal(map[string]string{"pad": big, "who": fmt.Sprintf("%d-%d", w, i)})
				sig := &sdk.Signal{ID: fmt.Sprintf("%d-%d", w, i), Name: "acme.bulk", Sender: "test", Time: time.Now(), Args: args}
				if err := a.Receive(context.Background(), sig); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		var env envelope
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("line %d is not one whole envelope: %v", len(seen)+1, err)
		}
		var args struct{ Pad, Who string }
		if err := json.Unmarshal(env.Args, &args); err != nil || args.Who != env.ID || args.Pad != big {
			t.Fatalf("line for %s carries other args (%v)", env.ID, err)
		}
		if seen[env.ID] {
			t.Fatalf("%s written twice", env.ID)
		}
		seen[env.ID] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("%d lines, want %d", len(seen), writers*each)
	}
}

func TestAuditFileAfterClose(t *testing.T) {
	a := openAudit(t, filepath.Join(t.TempDir(), "audit.jsonl"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Receive(context.Background(), testSignal()); err == nil {
		t.Fatal("Receive on a closed audit file succeeded")
	}
}

func TestOpenAuditFileErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"path is a directory", dir},
		{"parent is a file", filepath.Join(file, "audit.jsonl")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := OpenAuditFile(tt.path); err == nil {
				a.Close()
				t.Fatalf("OpenAuditFile(%s) succeeded", tt.path)
			}
		})
	}
}

// TestAuditFileThroughTheDeliverer: the audit file as an async subscriber
// gets each signal once, in emission order.
func TestAuditFileThroughTheDeliverer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a := openAudit(t, path)
	defer a.Close()
	e := newEnv(t, openSQLite(t))
	e.disp.Subscribe(&Subscription{Name: "audit", Mode: Async, Signals: []string{"*"}, Timeout: time.Second, Receiver: a})
	ids := emitN(t, e.disp, 5)
	run(t, e.newDeliverer(shortOptions()))
	waitFor(t, 10*time.Second, "5 deliveries", func() bool { return countState(e.rows(t), "delivered") == 5 })
	lines := readLines(t, path)
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	for i, l := range lines {
		var env envelope
		if err := json.Unmarshal([]byte(l), &env); err != nil || env.ID != ids[i] || env.Name != "user_login_failed" {
			t.Errorf("line %d = %s, want the signal %s", i+1, l, ids[i])
		}
	}
}

func TestEncodeEnvelope(t *testing.T) {
	when := time.Date(2031, 7, 14, 12, 0, 0, 500000000, time.FixedZone("X", -5*60*60))
	tests := []struct {
		name string
		sig  sdk.Signal
		want string
	}{
		{"args kept as they are", sdk.Signal{ID: "i", Name: "n", Sender: "s", Origin: OriginPlugin, Time: when, Args: json.RawMessage(`{"b":2,"a":1}`)},
			`{"id":"i","name":"n","sender":"s","origin":"plugin","time":"2031-07-14T17:00:00.5Z","args":{"b":2,"a":1}}`},
		{"nil args are an empty object", sdk.Signal{ID: "i", Name: "n", Sender: "s", Origin: OriginHost, Time: when},
			`{"id":"i","name":"n","sender":"s","origin":"host","time":"2031-07-14T17:00:00.5Z","args":{}}`},
		{"empty args are an empty object", sdk.Signal{ID: "i", Name: "n", Sender: "s", Origin: OriginHost, Time: when, Args: json.RawMessage{}},
			`{"id":"i","name":"n","sender":"s","origin":"host","time":"2031-07-14T17:00:00.5Z","args":{}}`},
		{"HTML characters escaped as encoding/json does", sdk.Signal{ID: "<i>", Name: "n", Sender: "a&b", Origin: OriginPlugin, Time: when.UTC(), Args: json.RawMessage(`{}`)},
			`{"id":"\u003ci\u003e","name":"n","sender":"a\u0026b","origin":"plugin","time":"2031-07-14T17:00:00.5Z","args":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeEnvelope(&tt.sig)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("encodeEnvelope:\n got %s\nwant %s", got, tt.want)
			}
			if bytes.ContainsRune(got, '\n') {
				t.Fatal("an envelope spans lines")
			}
		})
	}
	// Arguments that are not JSON cannot be encoded.
	if _, err := encodeEnvelope(&sdk.Signal{ID: "i", Args: json.RawMessage(`{not json`)}); err == nil {
		t.Fatal("encodeEnvelope accepted invalid args")
	}
}
