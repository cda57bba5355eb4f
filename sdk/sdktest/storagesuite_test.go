package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// suiteStart is where the storage suite's clocks start: a whole second, as
// a store may keep expiries to the millisecond.
var suiteStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// TestMemoryHostStorage runs the storage suite on MemoryHost itself. It has
// one namespace and one handle on its data.
func TestMemoryHostStorage(t *testing.T) {
	StorageSuite{New: func(t testing.TB) StorageUnderTest {
		clk := NewClock(suiteStart)
		h := NewMemoryHost()
		h.SetClock(clk.Now)
		return StorageUnderTest{Storage: h.Storage(), Clock: clk}
	}}.Run(t)
}

// TestMemoryHostStorageOverGRPC runs the storage suite on the plugin's
// client of the host, served by MemoryHost: two plugins on one MemoryHost
// are two handles on its data.
func TestMemoryHostStorageOverGRPC(t *testing.T) {
	StorageSuite{New: func(t testing.TB) StorageUnderTest {
		clk := NewClock(suiteStart)
		h := NewMemoryHost()
		h.SetClock(clk.Now)
		return StorageUnderTest{
			Storage:      pluginHost(t, h).Storage(),
			SecondHandle: pluginHost(t, h).Storage(),
			Clock:        clk,
		}
	}}.Run(t)
}

// pluginHost starts a plugin on host and returns the sdk.Host the plugin
// was configured with: every call on it crosses the wire to host.
func pluginHost(t testing.TB, host sdk.Host) sdk.Host {
	t.Helper()
	p := &hostKeeper{configured: make(chan sdk.Host, 1)}
	Start(t, p, nil, host)
	return <-p.configured
}

// hostKeeper is a plugin that hands over the sdk.Host it is configured
// with.
type hostKeeper struct{ configured chan sdk.Host }

func (*hostKeeper) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "hostkeeper", Version: "test"}
}

func (p *hostKeeper) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	p.configured <- req.Host
	return nil
}
