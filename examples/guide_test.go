// Package examples holds the plugins docs/plugin-guide.md builds; this
// test keeps the guide and them the same.
package examples

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// guide is the page that builds this example step by step.
const guide = "../docs/plugin-guide.md"

// shown are the examples whose every Go file the guide shows.
var examples = []string{"htpasswd", "apikey"}

// names is the line before a code block that says which file it is:
// `examples/apikey/apikey/config.go`: (the colon is optional).
var names = regexp.MustCompile("^`(examples/[^`]+)`:?$")

// block is one fenced code block of the guide.
type block struct {
	line int    // of the opening fence
	lang string // after the opening fence
	file string // the file it names, if any
	text string
}

func blocks(t *testing.T) []block {
	t.Helper()
	raw, err := os.ReadFile(guide)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	var body strings.Builder
	prev := "" // the last line that is not blank, outside blocks
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{line: n, lang: strings.TrimPrefix(line, "```")}
			if m := names.FindStringSubmatch(prev); m != nil {
				cur.file = m[1]
			}
			body.Reset()
		case cur != nil && line == "```":
			cur.text = body.String()
			out = append(out, *cur)
			cur, prev = nil, ""
		case cur != nil:
			body.WriteString(line + "\n")
		case strings.TrimSpace(line) != "":
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: a code block is not closed", guide, cur.line)
	}
	return out
}

// Every Go block of the guide is a whole file of this example, byte for
// byte, so that the guide shows code that builds and passes its tests.
func TestGuideShowsTheExampleAsItIs(t *testing.T) {
	shown := map[string]bool{}
	for _, b := range blocks(t) {
		if b.lang != "go" {
			continue
		}
		if b.file == "" {
			t.Errorf("%s:%d: a Go block that names no file of an example: put `examples/...`: on the line before it", guide, b.line)
			continue
		}
		want, err := os.ReadFile(filepath.Join("..", b.file))
		if err != nil {
			t.Errorf("%s:%d: %v", guide, b.line, err)
			continue
		}
		if b.text != string(want) {
			t.Errorf("%s:%d: the block differs from %s; copy the file into the guide", guide, b.line, b.file)
		}
		shown[b.file] = true
	}
	// And every Go file of the examples is in the guide.
	for _, ex := range examples {
		err := filepath.WalkDir(ex, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			if name := "examples/" + filepath.ToSlash(path); !shown[name] {
				t.Errorf("%s is not shown in %s", name, guide)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// maxHtpasswdLines bounds the first example: a secure password backend
// in one page of Go, counting neither blank lines nor comments.
const maxHtpasswdLines = 60

func TestHtpasswdFitsOnAPage(t *testing.T) {
	raw, err := os.ReadFile("htpasswd/main.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "//") {
			n++
		}
	}
	if n > maxHtpasswdLines {
		t.Errorf("examples/htpasswd/main.go has %d lines of code, more than %d", n, maxHtpasswdLines)
	}
	t.Logf("examples/htpasswd/main.go: %d lines of code", n)
}
