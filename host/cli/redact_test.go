package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnvironmentValuesAreRedacted plants values in the environment that
// the configuration refers to with ${NAME} and checks that no command's
// output, error or log shows them: each is shown as its ${NAME}.
func TestEnvironmentValuesAreRedacted(t *testing.T) {
	planted := map[string]string{
		"PLANT_LISTEN": "planted-listen-8c1f",
		"PLANT_TTL":    "planted-ttl-51ae",
		"PLANT_LIMIT":  "planted-limit-73d0",
		"PLANT_HOOK":   "https://hooks.example/in?token=planted-hook-e29a",
		// A directory under a file: no database can be made there.
		"PLANT_DIR":    filepath.Join(plantedFile(t), "missing"),
		"PLANT_SECRET": "planted-secret-0b6e",
	}
	for k, v := range planted {
		t.Setenv(k, v)
	}
	leaks := func(t *testing.T, what, text string) {
		t.Helper()
		for k, v := range planted {
			needle := v
			if k == "PLANT_HOOK" {
				needle = "planted-hook-e29a"
			}
			if strings.Contains(text, needle) {
				t.Errorf("%s shows $%s's value %q:\n%s", what, k, v, text)
			}
		}
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("config check of a wrong configuration", func(t *testing.T) {
		cfg := write("wrong.yaml", `listen: ${PLANT_LISTEN}
tokens: {access_ttl: "${PLANT_TTL}"}
signals:
  subscribers:
    - {name: hook, webhook: "${PLANT_HOOK}", secret: "${PLANT_SECRET}", signals: ["*"]}
backends:
  - name: lockout
    plugin: lockout
    config:
      lockout_parameters: [[username, ip_address]]
      failure_limit: ${PLANT_LIMIT}
  - {name: local, plugin: password}
`)
		out, err, code := run(t, "config", "check", "--config", cfg)
		if code != 2 || err == nil {
			t.Fatalf("config check = %d, %v; want 2 and the problems", code, err)
		}
		for _, ref := range []string{"${PLANT_LISTEN}", "${PLANT_TTL}"} {
			if !strings.Contains(err.Error(), ref) {
				t.Errorf("the problems do not show %s:\n%v", ref, err)
			}
		}
		leaks(t, "config check's output", out)
		leaks(t, "config check's error", err.Error())
	})

	t.Run("config check of a valid configuration", func(t *testing.T) {
		cfg := write("valid.yaml", `storage: {driver: sqlite, dsn: "${PLANT_DIR}/p.db"}
trusted_proxies: ["${PLANT_LISTEN}"]
`)
		// Not valid after all: the proxy is no address. Its problem names
		// the variable.
		out, err, _ := run(t, "config", "check", "--config", cfg)
		if err == nil || !strings.Contains(err.Error(), "${PLANT_LISTEN}") {
			t.Errorf("config check = %v; want a problem naming ${PLANT_LISTEN}", err)
		}
		leaks(t, "config check's output", out)
		if err != nil {
			leaks(t, "config check's error", err.Error())
		}
	})

	t.Run("serve that cannot reach its database", func(t *testing.T) {
		// Nothing listens on port 1: the connection is refused at once.
		cfg := write("serve.yaml", `listen: 127.0.0.1:0
storage: {driver: postgres, dsn: "postgres://portcullis:${PLANT_SECRET}@127.0.0.1:1/x?sslmode=disable&connect_timeout=5"}
`)
		var out, errOut bytes.Buffer
		root := NewRoot(strings.NewReader(""), &out, &errOut)
		root.SetArgs([]string{"serve", "--config", cfg})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := root.ExecuteContext(ctx)
		if err == nil {
			t.Fatal("serve started without its database")
		}
		leaks(t, "serve's error", err.Error())
		leaks(t, "serve's output", out.String()+errOut.String())
	})
	t.Run("a log line", func(t *testing.T) {
		cfg := write("log.yaml", "data_dir: ${PLANT_DIR}\n")
		if _, err, _ := run(t, "config", "check", "--config", cfg); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		e := &env{configPath: cfg}
		c, err := e.loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		log := newLogger(&buf, c)
		log.Warn("cannot use "+c.DataDir, "dir", c.DataDir, "error", os.ErrNotExist, "wrapped", &os.PathError{Op: "open", Path: c.DataDir, Err: os.ErrPermission})
		leaks(t, "the log", buf.String())
		if n := strings.Count(buf.String(), "${PLANT_DIR}"); n != 3 {
			t.Errorf("the log names ${PLANT_DIR} %d times, want 3 (message, dir, wrapped):\n%s", n, buf.String())
		}
	})
}

func plantedFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "planted-dir-44b7")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
