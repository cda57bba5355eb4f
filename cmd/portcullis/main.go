// Command portcullis is the Portcullis authentication host. Run
// `portcullis --help` for its commands.
package main

import (
	"os"

	"github.com/portcullis-auth/portcullis/host/cli"
)

func main() {
	closeInheritedOnExec()
	os.Exit(cli.Main(os.Args[1:]))
}
