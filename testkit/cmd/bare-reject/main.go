// Command bare-reject serves the yardstick of the lockout's rejection
// benchmarks (package testkit/barereject) over HTTP. It listens on the
// address given as its only argument (127.0.0.1:0 for any free port) and
// prints the address it listens on as its first line of output.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/portcullis-auth/portcullis/testkit/barereject"
)

func main() {
	addr := "127.0.0.1:0"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, barereject.Handler())
}
