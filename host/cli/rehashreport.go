package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/portcullis-auth/portcullis/host/usernames"
)

// rehashReport is the result of the password backend's rehash_report
// admin command, as the command line reads it (it does not import the
// plugin). It holds no hash.
type rehashReport struct {
	Users int `json:"users"`
	Kinds []struct {
		hashKind
		State     string   `json:"state"`
		Users     int      `json:"users"`
		Usernames []string `json:"usernames"`
		TooCostly bool     `json:"too_costly"`
	} `json:"kinds"`
	Floor   hashKind `json:"floor"`
	FloorMS float64  `json:"floor_ms"`
}

// hashKind is a format of stored hash and its cost parameters.
type hashKind struct {
	Format string `json:"format"`
	Cost   string `json:"cost"`
}

func (k hashKind) String() string {
	if k.Cost == "" {
		return k.Format
	}
	return k.Format + " " + k.Cost
}

// stateText says what becomes of a kind of hash.
var stateText = map[string]string{
	"current":  "current",
	"rehash":   "replaced at next login",
	"unusable": "cannot log in",
}

// print writes the report: a table of kinds, then the users to act on,
// then what logins cost, then summary (the backend's one line).
func (r *rehashReport) print(w io.Writer, summary string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FORMAT\tCOST\tUSERS\tSTATE")
	costly := false
	for _, k := range r.Kinds {
		state := stateText[k.State]
		if state == "" {
			state = k.State
		}
		if k.TooCostly {
			state += " (!)"
			costly = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", k.Format, orDash(k.Cost), k.Users, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, section := range []struct{ state, title string }{
		{"rehash", "To be replaced at the user's next successful login (or set with users passwd):"},
		{"unusable", "Without a usable hash, so unable to log in until given a password (users passwd):"},
	} {
		first := true
		for _, k := range r.Kinds {
			if k.State != section.state || len(k.Usernames) == 0 {
				continue
			}
			if first {
				fmt.Fprintf(w, "\n%s\n", section.title)
				first = false
			}
			names := make([]string, len(k.Usernames))
			for i, n := range k.Usernames {
				names[i] = usernames.Display(n)
			}
			fmt.Fprintf(w, "  %s: %s\n", k.hashKind, strings.Join(names, ", "))
		}
	}
	if costly {
		fmt.Fprintln(w, "\n(!) This kind costs more than logins are made to wait for: its users' logins can be told apart by their time. Replace these hashes.")
	}
	current := false
	for _, k := range r.Kinds {
		current = current || k.State == "current" && k.hashKind == r.Floor
	}
	switch {
	case r.Floor.Format == "":
	case current:
		fmt.Fprintf(w, "\nEvery login takes as long as verifying a current hash, %s (%.0f ms, as the backend measured it now):\n"+
			"no kind of hash stored costs more.\n", r.Floor, r.FloorMS)
	default:
		fmt.Fprintf(w, "\nEvery login takes as long as verifying the slowest kind of hash stored, %s (%.0f ms, as the backend measured it now),\n"+
			"so that the time of an answer tells neither which users exist nor how their passwords are stored.\n"+
			"Once no hash of that kind is left, logins cost less from the host's next start.\n", r.Floor, r.FloorMS)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}
