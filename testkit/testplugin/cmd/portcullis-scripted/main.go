// Command portcullis-scripted is the Scripted test plugin as an external
// executable, for end-to-end tests of external plugins.
package main

import (
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/testkit/testplugin"
)

func main() { sdk.Serve(&testplugin.Scripted{}) }
