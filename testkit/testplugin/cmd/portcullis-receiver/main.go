// Command portcullis-receiver is the Receiver test plugin as an external
// executable, for end-to-end tests of signal delivery to plugins.
package main

import (
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/testplugin"
)

func main() { sdk.Serve(&testplugin.Receiver{}) }
