package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestAdminBrowser drives the admin page in a real browser (Debian's
// chromium, headless): an admin logs in through the page's form, sees a
// user whom six wrong logins locked out, and clicks that row's Reset
// button; the user's next login with the right password succeeds. It
// saves full-page screenshots of the overview and the lockouts page into
// $PORTCULLIS_TEST_ARTIFACTS, or the test's artifact directory (kept with
// go test -artifacts).
//
// CI installs chromium; without it the test fails, saying so, unless
// PORTCULLIS_SKIP_BROWSER=1.
func TestAdminBrowser(t *testing.T) {
	if os.Getenv("PORTCULLIS_SKIP_BROWSER") == "1" {
		t.Skip("PORTCULLIS_SKIP_BROWSER=1: the admin page's browser test is skipped")
	}
	browser := chromiumPath(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "storage: {driver: sqlite, dsn: ./portcullis.db}\n") // the default chain: lockout (5 failures), password
	const adminName, adminPassword = "root", "a long admin password"
	mustRun(t, cfg, adminPassword+"\n", "admin", "create", adminName, "--password-stdin")
	h := startHost(t, cfg)
	addUser(t, cfg, nil, "victim", "pw-victim")
	for i := range 6 {
		want := 401
		if i == 5 {
			want = 429
		}
		if r := h.login("victim", "wrong"); r.status != want {
			t.Fatalf("wrong login %d: %d %s, want %d", i+1, r.status, r.raw, want)
		}
	}
	if r := h.login("victim", "pw-victim"); r.status != 429 {
		t.Fatalf("the right password while locked out: %d %s", r.status, r.raw)
	}

	if r := h.get("/admin/login"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin/login: %d %q; the host serves no admin page", r.status, r.header.Get("Content-Type"))
	}

	ctx := newBrowser(t, browser)
	artifacts := artifactDir(t)
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nhost log:\n%s", what, err, h.output())
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(step, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			fail("reading "+string(sel), err)
		}
		return s
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			fail("taking a screenshot", err)
		}
		path := filepath.Join(artifacts, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	// Any page without a session leads to the login form.
	do("opening the page", chromedp.Navigate(h.url+"/admin/lockouts"), chromedp.WaitVisible(chromedp.ID("username")))
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "Log in · Portcullis admin" {
		t.Fatalf("title %q (%v), want the login form's", title, err)
	}
	submit := chromedp.CSS(`form.login button[type="submit"]`)
	do("a wrong password",
		chromedp.SendKeys(chromedp.ID("username"), adminName),
		chromedp.SendKeys(chromedp.ID("password"), "not the password"),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS("p.error")))
	if got := text("p.error"); got != "The username or password is wrong." {
		t.Fatalf("after a wrong password the form says %q", got)
	}
	do("logging in",
		chromedp.SetValue(chromedp.ID("password"), adminPassword),
		chromedp.Click(submit),
		chromedp.WaitVisible(`//h1[normalize-space()="Overview"]`),
		chromedp.WaitVisible(`//section[@aria-labelledby="locked-h"]//th[normalize-space()="victim"]`))
	// The style sheet applies under the page's Content-Security-Policy.
	colour, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(".site-header")).backgroundColor`))
	if err != nil || colour != "rgb(27, 31, 36)" {
		t.Errorf("the header's background is %q (%v): the style sheet did not apply", colour, err)
	}
	screenshot("admin-overview.png")

	// The lockouts page lists the victim's locked pair; its Reset button
	// resets that pair.
	reset := `//tr[th[normalize-space()="victim"] and td[normalize-space()="ip_address+username"]]//button[starts-with(normalize-space(), "Reset")]`
	do("opening the lockouts page", chromedp.Click(`//nav//a[normalize-space()="Lockouts"]`), chromedp.WaitVisible(reset))
	screenshot("admin-lockouts.png")
	do("resetting the victim's lockout", chromedp.Click(reset), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if got := text("p.notice"); got != "Lockout counters reset: 1." {
		t.Errorf("after the reset the page says %q", got)
	}
	screenshot("admin-lockouts-after-reset.png")
	if r := h.login("victim", "pw-victim"); r.status != 200 {
		t.Fatalf("the victim's login after the reset: %d %s", r.status, r.raw)
	}
}

// chromiumPath finds the browser, or fails the test saying how to get it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("the admin page's browser test needs chromium (Debian: apt-get install chromium); set PORTCULLIS_SKIP_BROWSER=1 to skip it")
	return ""
}

// newBrowser starts a headless chromium with a fresh profile and a
// temporary directory of its own (both removed when the test ends), and
// returns a tab's context, which ends after two minutes at most: a hung
// browser fails the test instead of hanging the suite. The sandbox is off
// only when the test runs as root, where chromium refuses to start with it.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Env("TMPDIR="+tmp),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	timeout, cancelTimeout := context.WithTimeout(context.Background(), 2*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		// Close the browser before its directories are removed.
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("closing the browser: %v", err)
		}
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// artifactDir is where the test saves what a person may want to look at:
// $PORTCULLIS_TEST_ARTIFACTS if set, else the test's artifact directory
// (kept by go test -artifacts, else removed with the test).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTCULLIS_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(fmt.Errorf("PORTCULLIS_TEST_ARTIFACTS: %w", err))
		}
	}
	t.Logf("artifacts: %s", dir)
	return dir
}
