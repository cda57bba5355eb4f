package lockout

import (
	"os"
	"testing"

	"github.com/portcullis-auth/portcullis/testkit/notrace"
)

// TestMain fails the package if its plugins leave a socket behind.
func TestMain(m *testing.M) { os.Exit(notrace.Run("pclo-", m.Run)) }
