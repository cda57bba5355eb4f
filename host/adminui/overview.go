package adminui

import (
	"context"
	"net/http"
	"strconv"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// overviewData is the overview's: admin.Overview and the deliveries by
// state.
type overviewData struct {
	admin.Overview
	Dead, Pending int64
}

// overviewView loads the overview.
func (p *Page) overviewView(ctx context.Context) (view, error) {
	o, err := p.svc.Overview(ctx)
	if err != nil {
		return view{}, err
	}
	d := overviewData{Overview: o, Dead: o.Deliveries[storage.DeliveryDead], Pending: o.Deliveries[storage.DeliveryPending]}
	return view{Title: "Overview", Section: "overview", Data: d}, nil
}

func (p *Page) overview(w http.ResponseWriter, r *http.Request, s session) {
	v, err := p.overviewView(r.Context())
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, http.StatusOK, "overview", v, s)
}

// deadShown is how many dead letters the page lists, newest first.
const deadShown = 100

// deliveriesData is the dead letters' page's.
type deliveriesData struct {
	Items []admin.Delivery
	Limit int
}

func (p *Page) deliveries(w http.ResponseWriter, r *http.Request, s session) {
	p.deliveriesPage(w, r, s, outcomeOf(r.URL.Query()))
}

// deliveriesPage shows the dead letters with o above them.
func (p *Page) deliveriesPage(w http.ResponseWriter, r *http.Request, s session, o outcome) {
	ds, err := p.svc.Deliveries(r.Context(), storage.DeliveryDead, deadShown)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	p.render(w, o.Status, "deliveries", view{Title: "Signal dead letters", Section: "deliveries", Notice: o.Notice, Error: o.Error,
		Data: deliveriesData{Items: ds, Limit: deadShown}}, s)
}

// retryDelivery queues a dead delivery again: field id.
func (p *Page) retryDelivery(w http.ResponseWriter, r *http.Request, s session) {
	id, err := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		p.deliveriesPage(w, r, s, outcome{Status: http.StatusBadRequest, Error: "a delivery id is a positive whole number"})
		return
	}
	if err := p.svc.RetryDelivery(r.Context(), s.caller, id); err != nil {
		p.deliveriesPage(w, r, s, p.refused(r, err))
		return
	}
	done(w, r, "/admin/deliveries", nil, "retried", 0)
}
