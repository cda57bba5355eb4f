package password

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// userHash is a stored user as the backend reads it from ListUsers.
type userHash struct {
	id, username, hash string
}

// listPage is how many users the backend asks the host for at a time.
const listPage = 500

// eachUser calls f with every stored user, a page at a time.
func (b *Backend) eachUser(ctx context.Context, f func(userHash)) error {
	after := ""
	for {
		page, err := b.users.ListUsers(ctx, after, listPage)
		if err != nil {
			return fmt.Errorf("listing users: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, u := range page {
			f(userHash{id: u.ID, username: u.Username, hash: u.PasswordHash})
		}
		after = page[len(page)-1].ID
	}
}

// The states of a kind in a RehashReport.
const (
	// StateCurrent: made with the configured argon2id parameters.
	StateCurrent = "current"
	// StateRehash: verified, and replaced by a current hash at the user's
	// next successful login (or by `portcullis users passwd`).
	StateRehash = "rehash"
	// StateUnusable: no password, or a hash this backend cannot read: the
	// user cannot log in until given a password.
	StateUnusable = "unusable"
)

// RehashReport is the result of the rehash_report admin command. It holds
// no hash, only kinds of hash and usernames.
type RehashReport struct {
	// Users is how many users there are.
	Users int `json:"users"`
	// Kinds are the kinds of hash stored: current first, then those to
	// replace, most costly first, then the unusable ones.
	Kinds []KindReport `json:"kinds"`
	// Floor is the kind every login is made to cost (the slowest stored,
	// the current one counted), and FloorMS the time it was measured to
	// take (the median of the recent verifications).
	Floor   Kind    `json:"floor"`
	FloorMS float64 `json:"floor_ms"`
}

// KindReport is one kind of hash in a RehashReport.
type KindReport struct {
	Kind
	// State is StateCurrent, StateRehash or StateUnusable.
	State string `json:"state"`
	// Users is how many users have a hash of this kind.
	Users int `json:"users"`
	// Usernames lists them, sorted, for a kind that is not current.
	Usernames []string `json:"usernames,omitempty"`
	// TooCostly is set for a kind that costs more than logins are made to
	// wait for: its users' logins can be told apart by their time.
	TooCostly bool `json:"too_costly,omitempty"`
}

// rehashReport reads every user's hash and sorts them by kind.
func (b *Backend) rehashReport(ctx context.Context) (RehashReport, error) {
	if err := b.prepare(ctx); err != nil {
		return RehashReport{}, err
	}
	current := CurrentKind(b.cfg.Argon2id)
	byKind := map[Kind]*KindReport{}
	var report RehashReport
	err := b.eachUser(ctx, func(u userHash) {
		report.Users++
		k := KindOf(u.hash)
		r := byKind[k]
		if r == nil {
			r = &KindReport{Kind: k, State: StateRehash, TooCostly: k.tooCostly()}
			switch {
			case k == current:
				r.State = StateCurrent
			case k.Format == FormatNone || k.Format == FormatUnknown:
				r.State = StateUnusable
			}
			byKind[k] = r
		}
		r.Users++
		if r.State != StateCurrent {
			r.Usernames = append(r.Usernames, u.username)
		}
	})
	if err != nil {
		return RehashReport{}, err
	}
	order := map[string]int{StateCurrent: 0, StateRehash: 1, StateUnusable: 2}
	for _, r := range byKind {
		slices.Sort(r.Usernames)
		report.Kinds = append(report.Kinds, *r)
	}
	slices.SortFunc(report.Kinds, func(x, y KindReport) int {
		return cmp.Or(cmp.Compare(order[x.State], order[y.State]), cmp.Compare(x.family(), y.family()),
			cmp.Compare(y.work(), x.work()), cmp.Compare(x.Format, y.Format))
	})
	b.floor.mu.Lock()
	report.Floor, report.FloorMS = b.floor.slowest, float64(b.floor.median())/float64(time.Millisecond)
	b.floor.mu.Unlock()
	return report, nil
}

// summary says in one line what the report found.
func (r RehashReport) summary() string {
	var rehash, unusable int
	for _, k := range r.Kinds {
		switch k.State {
		case StateRehash:
			rehash += k.Users
		case StateUnusable:
			unusable += k.Users
		}
	}
	return fmt.Sprintf("%d user(s): %d hash(es) to replace, %d without a usable hash.", r.Users, rehash, unusable)
}
