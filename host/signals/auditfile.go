package signals

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/portcullis-auth/portcullis/sdk"
)

// AuditFile appends each signal as one JSON line to a file, and syncs it to
// disk before the delivery counts.
type AuditFile struct {
	mu sync.Mutex
	f  *os.File
}

// OpenAuditFile opens (creating, mode 0600) the file at path for appending.
func OpenAuditFile(path string) (*AuditFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit file: %w", err)
	}
	return &AuditFile{f: f}, nil
}

// Receive implements sdk.SignalReceiver.
func (a *AuditFile) Receive(_ context.Context, sig *sdk.Signal) error {
	line, err := encodeEnvelope(sig)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing audit file: %w", err)
	}
	return a.f.Sync()
}

// Close closes the file.
func (a *AuditFile) Close() error { return a.f.Close() }

// Interface guard.
var _ sdk.SignalReceiver = (*AuditFile)(nil)
