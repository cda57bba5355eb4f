//go:build !linux

package supervisor

import "os"

// sealedCopy is Linux only: elsewhere the supervisor executes a private
// copy.
func sealedCopy(*os.File, string) (*execCopy, error) { return nil, errNoSealedCopy }
