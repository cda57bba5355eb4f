// Command portcullis-hostile is the Hostile test plugin as an external
// executable: a backend that attacks the host from inside its own process,
// for the end-to-end tests of least privilege.
package main

import (
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/testplugin"
)

func main() { sdk.Serve(&testplugin.Hostile{}) }
