package supervisor

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSealedCopyCannotChange checks the seals of the memory copy: no
// write, truncation or growth, and no way to remove the seals.
func TestSealedCopyCannotChange(t *testing.T) {
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	c, err := sealedCopy(src, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := c.checksum()
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(c.path, os.O_WRONLY, 0)
	if err == nil {
		defer w.Close()
		if _, err := w.WriteAt([]byte("changed"), 0); err == nil {
			t.Error("wrote into the sealed copy")
		}
		if err := w.Truncate(1); err == nil {
			t.Error("shrank the sealed copy")
		}
		if err := w.Truncate(1 << 30); err == nil {
			t.Error("grew the sealed copy")
		}
	}
	if _, err := unix.FcntlInt(c.file.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL); err == nil {
		// Adding a seal after F_SEAL_SEAL fails; removing one is impossible.
		t.Error("the seals are not sealed")
	}
	if after, err := c.checksum(); err != nil || after != before {
		t.Errorf("content changed: %s → %s (%v)", before, after, err)
	}
}
