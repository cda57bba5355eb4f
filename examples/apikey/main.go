// Command portcullis-apikey is a Portcullis backend that logs users in with
// an API key.
package main

import (
	"github.com/portcullis-auth/portcullis/examples/apikey/apikey"
	"github.com/portcullis-auth/portcullis/sdk"
)

func main() { sdk.Serve(apikey.New()) }
