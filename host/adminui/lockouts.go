package adminui

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// lockoutKeys are the lockout list's query: its filters and page.
var lockoutKeys = []string{"backend", "username", "ip", "locked", "offset", "limit"}

// lockoutsData is the lockouts page's.
type lockoutsData struct {
	Backends []string
	Filter   lockoutFilter
	Rows     []lockoutRow
	Pager    pager
	// Keep is the list's query, which each form's action carries so that
	// its redirect comes back to the same list.
	Keep string
}

type lockoutFilter struct {
	Backend, Username, IP string
	Locked                bool
}

// lockoutRow is a counter with what its Reset button resets: the
// counter's own username and address (the pair when it is keyed on
// both), in its own backend.
type lockoutRow struct {
	admin.Counter
	ResetUsername, ResetIP string
	CanReset               bool
}

func rowOf(c admin.Counter) lockoutRow {
	row := lockoutRow{Counter: c}
	if c.Hashed {
		return row // its values are not known: only "reset all" removes it
	}
	for _, f := range strings.Split(c.Group, "+") {
		switch f {
		case attempts.FieldUsername:
			row.ResetUsername = c.Username
		case attempts.FieldIPAddress:
			row.ResetIP = c.IPAddress
		}
	}
	row.CanReset = row.ResetUsername != "" || row.ResetIP != ""
	return row
}

// lockoutsView loads the lockouts page for the list query q.
func (p *Page) lockoutsView(ctx context.Context, q url.Values) (view, error) {
	lq, err := httpapi.LockoutQueryOf(q)
	if err != nil {
		return view{}, err
	}
	page, err := p.svc.Lockouts(ctx, lq)
	if err != nil {
		return view{}, err
	}
	keep := kept(q, lockoutKeys...)
	d := lockoutsData{
		Backends: p.svc.LockoutBackends(),
		Filter:   lockoutFilter{Backend: lq.Backend, Username: lq.Username, IP: lq.IPAddress, Locked: lq.LockedOnly},
		Rows:     make([]lockoutRow, len(page.Items)),
		Pager:    paginate("/admin/lockouts", keep, page),
		Keep:     keep.Encode(),
	}
	for i, c := range page.Items {
		d.Rows[i] = rowOf(c)
	}
	return view{Title: "Lockouts", Section: "lockouts", Data: d}, nil
}

func (p *Page) lockouts(w http.ResponseWriter, r *http.Request, s session) {
	p.lockoutsPage(w, r, s, outcomeOf(r.URL.Query()))
}

// lockoutsPage shows the list of r's query with o above it.
func (p *Page) lockoutsPage(w http.ResponseWriter, r *http.Request, s session, o outcome) {
	v, err := p.lockoutsView(r.Context(), r.URL.Query())
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v.Notice, v.Error = o.Notice, o.Error
	p.render(w, o.Status, "lockouts", v, s)
}

// resetLockouts removes the counters the form selects: fields backend
// (all backends if empty), username and ip (a pair when both are given),
// or all, which needs confirm.
func (p *Page) resetLockouts(w http.ResponseWriter, r *http.Request, s session) {
	form := r.PostForm
	f := limiter.Filter{Username: strings.TrimSpace(form.Get("username")), IPAddress: strings.TrimSpace(form.Get("ip")), All: form.Get("all") == "true"}
	if f.All && form.Get("confirm") != "yes" {
		p.lockoutsPage(w, r, s, outcome{Status: http.StatusBadRequest, Error: "tick the box to confirm that every counter is to be reset"})
		return
	}
	n, err := p.svc.ResetLockouts(r.Context(), s.caller, form.Get("backend"), f)
	if err != nil {
		p.lockoutsPage(w, r, s, p.refused(r, err))
		return
	}
	done(w, r, "/admin/lockouts", kept(r.URL.Query(), lockoutKeys...), "reset", n)
}
