package config

import (
	"fmt"
	"slices"
	"time"
)

// Devices configures mobile devices (docs/devices.md): the device
// endpoints under /v1/devices and /v1/device/, served by the backend that
// keeps the devices.
type Devices struct {
	// Backend names the backend whose plugin keeps the devices (the
	// mobiledevice plugin). Default: the only backend running
	// mobiledevice; none leaves the device endpoints off.
	Backend string `json:"backend"`
	// MaxWait bounds a device's long poll (?wait=), default 60s.
	MaxWait Duration `json:"max_wait"`
}

// devicePlugin is the first-party plugin that keeps devices.
const devicePlugin = "mobiledevice"

func (d *Devices) applyDefaults(backends []Backend) {
	if d.Backend == "" {
		var names []string
		for _, b := range backends {
			if b.Plugin == devicePlugin {
				names = append(names, b.Name)
			}
		}
		if len(names) == 1 {
			d.Backend = names[0]
		}
	}
	setDefault(&d.MaxWait, time.Minute)
}

func (d *Devices) validate(backends []Backend, authBackends []string) []Problem {
	var ps []Problem
	fail := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: "devices." + path, Message: fmt.Sprintf(format, args...)})
	}
	if d.Backend != "" {
		switch {
		case !slices.ContainsFunc(backends, func(b Backend) bool { return b.Name == d.Backend }):
			fail("backend", "no backend named %q", d.Backend)
		case !slices.Contains(authBackends, d.Backend):
			fail("backend", "%q is not one of authorization_requests.backends: its devices would have no request to decide", d.Backend)
		}
	}
	if d.MaxWait.D() < time.Second || d.MaxWait.D() > 5*time.Minute {
		fail("max_wait", "must be from 1s to 5m")
	}
	return ps
}
