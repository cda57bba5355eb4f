package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// The command line never reaches into a plugin: what only a plugin knows
// it asks the plugin's process for (sdk.Admin), and first-party plugins
// reach it only through the built-in registry (host/builtin).
func TestCLIImportsNoPlugin(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/portcullis-auth/portcullis/plugins/") {
			t.Errorf("host/cli imports %s", p)
		}
	}
}
