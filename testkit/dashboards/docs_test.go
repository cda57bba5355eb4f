package dashboards

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var docPath = filepath.Join(repo, "docs", "dashboards.md")

// slug is the anchor GitHub gives a Markdown heading.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkDocLink reports whether link, a file path with an optional #anchor,
// names an existing file and one of its headings.
func checkDocLink(link string) error {
	file, anchor, _ := strings.Cut(link, "#")
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("link %s: %v", link, err)
	}
	if anchor == "" {
		return nil
	}
	inCode := false // a "#" line in a code block is a comment, not a heading
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if h, ok := strings.CutPrefix(line, "#"); ok && !inCode && slug(strings.TrimLeft(h, "# ")) == anchor {
			return nil
		}
	}
	return fmt.Errorf("link %s: %s has no heading #%s", link, file, anchor)
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Failing closed, and the plugin's process":      "failing-closed-and-the-plugins-process",
		"Inspecting and retrying: `portcullis signals`": "inspecting-and-retrying-portcullis-signals",
		"Async delivery: the outbox":                    "async-delivery-the-outbox",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

// TestOperatorsDoc keeps docs/dashboards.md describing what the dashboard and
// the rules hold, and its links pointing somewhere.
func TestOperatorsDoc(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	d := loadDashboard(t)
	for _, p := range allPanels(d) {
		if !strings.Contains(doc, p.Title) {
			t.Errorf("%s does not describe the panel or row %q", docPath, p.Title)
		}
	}
	for name := range wantAlerts {
		if !strings.Contains(doc, name) {
			t.Errorf("%s does not describe the alert %s", docPath, name)
		}
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, m := range link.FindAllStringSubmatch(doc, -1) {
		target := m[1]
		if strings.Contains(target, "://") {
			continue
		}
		if strings.HasPrefix(target, "#") {
			target = "dashboards.md" + target
		}
		if err := checkDocLink(filepath.Join(filepath.Dir(docPath), filepath.FromSlash(target))); err != nil {
			t.Errorf("%s: %v", docPath, err)
		}
	}
}
