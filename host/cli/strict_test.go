package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// execute runs the command line with args as Main does, and returns its
// exit status, stdout and the error Main would print.
func execute(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := NewRoot(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return exitStatus(err), stdout.String(), err
}

// TestUnknownCommandsAndFlagsFail: a script that mistypes a command, a
// subcommand, a help topic or a flag must see a failure that names the
// mistake, not help text and exit status 0.
func TestUnknownCommandsAndFlagsFail(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "portcullis"`},
		{[]string{"users", "frobnicate"}, `unknown command "frobnicate" for "portcullis users"`},
		{[]string{"users", "frobnicate", "alice"}, `unknown command "frobnicate" for "portcullis users"`},
		{[]string{"users", "lst"}, `did you mean list?`},
		{[]string{"plugins", "frobnicate"}, `unknown command "frobnicate" for "portcullis plugins"`},
		{[]string{"signals", "frobnicate"}, `unknown command "frobnicate" for "portcullis signals"`},
		{[]string{"lockout", "frobnicate"}, `unknown command "frobnicate" for "portcullis lockout"`},
		{[]string{"lockout", "--backend", "x", "frobnicate"}, `unknown command "frobnicate" for "portcullis lockout"`},
		{[]string{"config", "frobnicate"}, `unknown command "frobnicate" for "portcullis config"`},
		{[]string{"config", "check", "frobnicate"}, `unknown command "frobnicate" for "portcullis config check"`},
		{[]string{"completion", "frobnicate"}, `unknown command "frobnicate" for "portcullis completion"`},
		{[]string{"help", "frobnicate"}, `unknown help topic "frobnicate"`},
		{[]string{"help", "users", "frobnicate"}, `unknown help topic "users frobnicate"`},
		{[]string{"--frobnicate"}, `unknown flag: --frobnicate`},
		{[]string{"users", "--frobnicate"}, `unknown flag: --frobnicate`},
		{[]string{"users", "list", "--frobnicate"}, `unknown flag: --frobnicate`},
		{[]string{"users", "list", "-Z"}, `unknown shorthand flag: 'Z'`},
		{[]string{"version", "frobnicate"}, `unknown command "frobnicate" for "portcullis version"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, err := execute(t, tt.args...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit status %d, error %v; want a non-zero status and an error containing %q", code, err, tt.want)
			}
			if stdout != "" {
				t.Errorf("printed to stdout as if it had worked:\n%s", stdout)
			}
		})
	}
}

// TestEveryCommandRefusesUnknownWords walks the whole command tree, so that
// a command group added later is held to the same rule: each refuses a
// subcommand it does not have, and each command a flag it does not have.
func TestEveryCommandRefusesUnknownWords(t *testing.T) {
	root := NewRoot(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	var paths [][]string
	var groups int
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	for _, path := range paths {
		name := "portcullis " + strings.Join(path, " ")
		t.Run(name+" --no-such-flag", func(t *testing.T) {
			code, _, err := execute(t, append(append([]string(nil), path...), "--no-such-flag")...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), "--no-such-flag") {
				t.Fatalf("exit status %d, error %v; want a failure naming the flag", code, err)
			}
		})
		c, _, err := root.Find(path)
		if err != nil || !c.HasSubCommands() {
			continue
		}
		groups++
		t.Run(name+" no-such-command", func(t *testing.T) {
			code, stdout, err := execute(t, append(append([]string(nil), path...), "no-such-command")...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), `"no-such-command"`) {
				t.Fatalf("exit status %d, error %v; want a failure naming the command", code, err)
			}
			if stdout != "" {
				t.Errorf("printed to stdout as if it had worked:\n%s", stdout)
			}
		})
	}
	// The root, users, plugins, signals, lockout, config and completion.
	if groups < 7 {
		t.Errorf("found %d command groups in the tree; the walk is broken", groups)
	}
}

// TestCommandGroupAloneShowsHelp: a command group with no subcommand is a
// request for its help, not a mistake.
func TestCommandGroupAloneShowsHelp(t *testing.T) {
	for _, group := range []string{"users", "lockout", "help"} {
		t.Run(group, func(t *testing.T) {
			code, stdout, err := execute(t, group)
			if code != 0 || err != nil || !strings.Contains(stdout, "Usage:") {
				t.Fatalf("exit status %d, error %v, stdout %q; want the help", code, err, stdout)
			}
		})
	}
}
