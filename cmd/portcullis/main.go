// Command portcullis is the Portcullis authentication host. Run
// `portcullis --help` for its commands.
package main

import (
	"os"

	"github.com/portcullis-auth/portcullis/host/cli"
)

func main() {
	// Descriptors are marked once serve has raised its timer slack, which
	// executes the program again: what it inherited (a configuration given
	// as /dev/fd/N) must reach that second image.
	os.Exit(cli.Main(os.Args[1:], closeInheritedOnExec))
}
