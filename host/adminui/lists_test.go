package adminui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

const hostile = `<script>alert("x")</script>`

func TestHostileValuesAreEscaped(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.fail(hostile, "203.0.113.66", `"><img src=x onerror=alert(1)>`+hostile, 3)
	rg.fail("carol", "203.0.113.67", hostile, 1)
	for _, path := range []string{"/admin/", "/admin/lockouts", "/admin/lockouts?username=" + url.QueryEscape(hostile)} {
		page := rg.get(path).Body.String()
		if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
			t.Errorf("GET %s shows a hostile value unescaped:\n%s", path, page)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("GET %s does not show the hostile username escaped:\n%s", path, page)
		}
	}
	// The row's Reset button resets that pair: its hidden fields carry the
	// values escaped, and are read back as typed.
	if w := rg.post("/admin/lockouts/reset", url.Values{"backend": {"lockout"}, "username": {hostile}, "ip": {"203.0.113.66"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", w.Code, w.Body)
	}
	page := rg.get("/admin/lockouts").Body.String()
	if strings.Contains(page, "alert(&#34;x&#34;)&lt;/script&gt;</th>") {
		t.Errorf("the hostile pair's counter is still listed:\n%s", page)
	}
	// A refused form's message shows what was typed, escaped.
	w := rg.post("/admin/users/disable", url.Values{"username": {hostile}})
	if body := w.Body.String(); w.Code != http.StatusNotFound || strings.Contains(body, "<script") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("disabling a hostile name: %d\n%s", w.Code, body)
	}
}

// links returns the href of each link whose text is text.
func links(page, text string) []string {
	re := regexp.MustCompile(`<a href="([^"]*)"[^>]*>` + regexp.QuoteMeta(text) + `</a>`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(page, -1) {
		out = append(out, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	return out
}

func TestLockoutsPagination(t *testing.T) {
	rg := newRig(t).loggedIn()
	// Seven locked pairs, each with its address's counter (locked too):
	// 14 counters, and one that counts without a lock.
	for i := range 7 {
		rg.fail(fmt.Sprintf("user%d", i), fmt.Sprintf("198.51.100.%d", i), "", 3)
	}
	rg.fail("zed", "198.51.100.99", "", 1)
	page := rg.get("/admin/lockouts?locked=true&limit=5").Body.String()
	if !strings.Contains(page, "Showing 1–5 of 14.") || len(links(page, "Previous page")) != 0 {
		t.Fatalf("first page:\n%s", page)
	}
	next := links(page, "Next page")
	if len(next) != 1 || next[0] != "/admin/lockouts?limit=5&locked=true&offset=5" {
		t.Fatalf("first page's next link %q", next)
	}
	page = rg.get(next[0]).Body.String()
	if !strings.Contains(page, "Showing 6–10 of 14.") {
		t.Fatalf("second page:\n%s", page)
	}
	if prev := links(page, "Previous page"); len(prev) != 1 || prev[0] != "/admin/lockouts?limit=5&locked=true" {
		t.Errorf("second page's previous link %q", prev)
	}
	next = links(page, "Next page")
	if len(next) != 1 || next[0] != "/admin/lockouts?limit=5&locked=true&offset=10" {
		t.Fatalf("second page's next link %q", next)
	}
	page = rg.get(next[0]).Body.String()
	if !strings.Contains(page, "Showing 11–14 of 14.") || len(links(page, "Next page")) != 0 {
		t.Errorf("last page:\n%s", page)
	}
	// Each row's form comes back to the same list.
	if !strings.Contains(page, `action="/admin/lockouts/reset?limit=5&amp;locked=true&amp;offset=10"`) {
		t.Errorf("the forms do not keep the list's query:\n%s", page)
	}
	// Filters.
	page = rg.get("/admin/lockouts?username=user3").Body.String()
	if !strings.Contains(page, "Showing 1–1 of 1.") || !strings.Contains(page, `value="user3"`) {
		t.Errorf("filtered by username:\n%s", page)
	}
	page = rg.get("/admin/lockouts?ip=198.51.100.99").Body.String()
	if !strings.Contains(page, "Showing 1–2 of 2.") || strings.Contains(page, "user1") {
		t.Errorf("filtered by address:\n%s", page)
	}
	if w := rg.get("/admin/lockouts?backend=nope"); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "No lockout backend named") {
		t.Errorf("an unknown backend: %d\n%s", w.Code, w.Body)
	}
	if w := rg.get("/admin/lockouts?offset=-1"); w.Code != http.StatusBadRequest {
		t.Errorf("a negative offset: %d", w.Code)
	}
}

func TestLockoutResets(t *testing.T) {
	rg := newRig(t).loggedIn()
	rg.fail("alice", "203.0.113.1", "", 3) // locked: the pair and the address
	rg.fail("alice", "203.0.113.2", "", 1)
	rg.fail("bob", "203.0.113.3", "", 1)
	if n := rg.counters(); n != 6 { // (alice,.1) (alice,.2) (bob,.3) .1 .2 .3
		t.Fatalf("%d counters", n)
	}
	// The page lists alice's locked pair first, with a Reset button for
	// the pair alone.
	page := rg.get("/admin/lockouts?locked=true").Body.String()
	row := regexp.MustCompile(`(?s)<th scope="row">alice</th>.*?</tr>`).FindString(page)
	for _, want := range []string{`name="username" value="alice"`, `name="ip" value="203.0.113.1"`, `name="backend" value="lockout"`, ">Reset<"} {
		if !strings.Contains(row, want) {
			t.Errorf("alice's row lacks %s:\n%s", want, row)
		}
	}
	// The address-only row resets by address.
	addrRow := regexp.MustCompile(`(?s)<th scope="row"><span class="muted">any</span></th>\s*<td>203.0.113.1</td>.*?</tr>`).FindString(page)
	if !strings.Contains(addrRow, `name="ip" value="203.0.113.1"`) || strings.Contains(addrRow, `name="username"`) {
		t.Errorf("the address's row:\n%s", addrRow)
	}

	w := rg.post("/admin/lockouts/reset?locked=true", url.Values{"backend": {"lockout"}, "username": {"alice"}, "ip": {"203.0.113.1"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/lockouts?done=reset&locked=true&n=1" {
		t.Fatalf("row reset: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	if page := rg.get(w.Header().Get("Location")).Body.String(); !strings.Contains(page, "Lockout counters reset: 1.") {
		t.Errorf("after the reset:\n%s", page)
	}
	if n := rg.counters(); n != 5 {
		t.Errorf("%d counters after resetting one pair", n)
	}
	// By username: alice's other pair.
	if w := rg.post("/admin/lockouts/reset", url.Values{"username": {"ALICE"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("reset by username: %d\n%s", w.Code, w.Body)
	}
	if n := rg.counters(); n != 4 {
		t.Errorf("%d counters after resetting alice", n)
	}
	// Nothing named: refused.
	if w := rg.post("/admin/lockouts/reset", url.Values{"username": {" "}}); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Name an IP address, a username, or all.") {
		t.Errorf("reset of nothing: %d\n%s", w.Code, w.Body)
	}
	// All, without and with the confirmation.
	w = rg.post("/admin/lockouts/reset", url.Values{"all": {"true"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Tick the box to confirm") || rg.counters() != 4 {
		t.Errorf("reset all without confirm: %d (%d counters)\n%s", w.Code, rg.counters(), w.Body)
	}
	if w := rg.post("/admin/lockouts/reset", url.Values{"all": {"true"}, "confirm": {"yes"}, "username": {"bob"}}); w.Code != http.StatusBadRequest {
		t.Errorf("reset all with a username: %d", w.Code)
	}
	if w := rg.post("/admin/lockouts/reset", url.Values{"all": {"true"}, "confirm": {"yes"}}); w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "n=4") {
		t.Errorf("reset all: %d %v", w.Code, w.Header())
	}
	if n := rg.counters(); n != 0 {
		t.Errorf("%d counters after reset all", n)
	}
}

func TestUsersAndRoles(t *testing.T) {
	rg := newRig(t).loggedIn()
	ctx := context.Background()
	// Roles.
	w := rg.post("/admin/roles", url.Values{"name": {"staff"}, "permissions": {"reports:read, reports:write\nbilling:read"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/roles?done=role-created" {
		t.Fatalf("create role: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	w = rg.post("/admin/roles", url.Values{"name": {"bad"}, "permissions": {"ok:read bad\x7fperm"}})
	if page := w.Body.String(); w.Code != http.StatusBadRequest || !strings.Contains(page, `value="bad"`) {
		t.Errorf("a bad permission: %d\n%s", w.Code, page)
	}
	if _, err := rg.store.RoleByName(ctx, "bad"); err == nil {
		t.Errorf("a refused permission left its role behind")
	}
	if w := rg.post("/admin/roles", url.Values{"name": {"staff"}}); w.Code != http.StatusConflict {
		t.Errorf("a second role staff: %d", w.Code)
	}
	if w := rg.post("/admin/roles/revoke", url.Values{"role": {"staff"}, "permissions": {"reports:write"}}); w.Header().Get("Location") != "/admin/roles?done=revoked&n=1" {
		t.Errorf("revoke: %d %v", w.Code, w.Header())
	}
	if w := rg.post("/admin/roles/grant", url.Values{"role": {"staff"}, "permissions": {"a:b c:d"}}); w.Header().Get("Location") != "/admin/roles?done=granted&n=2" {
		t.Errorf("grant: %d %v", w.Code, w.Header())
	}
	page := rg.get("/admin/roles").Body.String()
	for _, want := range []string{`<th scope="row">staff</th>`, `<code class="tag">a:b</code>`, `<code class="tag">billing:read</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("roles page lacks %s", want)
		}
	}
	if strings.Contains(page, "reports:write") {
		t.Errorf("a revoked permission is listed")
	}
	rg.post("/admin/roles", url.Values{"name": {"temp"}})

	// Users.
	w = rg.post("/admin/users", url.Values{"username": {"alice"}, "password": {"pw-alice"}, "role": {"staff"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin/users?done=user-created" {
		t.Fatalf("create user: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	u, err := rg.svc.User(ctx, "alice")
	if err != nil || strings.Join(u.Roles, ",") != "staff" {
		t.Fatalf("alice: %+v %v", u, err)
	}
	w = rg.post("/admin/users?q=ali", url.Values{"username": {"alice"}, "password": {"secret-pw"}})
	if page := w.Body.String(); w.Code != http.StatusConflict || strings.Contains(page, "secret-pw") || !strings.Contains(page, "already exists") || !strings.Contains(page, `value="ali"`) {
		t.Errorf("a second alice: %d\n%s", w.Code, page)
	}
	for _, step := range []struct {
		path, role, want string
	}{
		{"/admin/users/roles/add", "temp", "role-added"},
		{"/admin/users/roles/add", "temp", "unchanged"},
		{"/admin/users/roles/remove", "staff", "role-removed"},
		{"/admin/users/disable", "", "user-disabled"},
		{"/admin/users/disable", "", "unchanged"},
		{"/admin/users/enable", "", "user-enabled"},
	} {
		form := url.Values{"username": {"alice"}}
		if step.role != "" {
			form.Set("role", step.role)
		}
		w := rg.post(step.path+"?q=ali&junk=1", form)
		if want := "/admin/users?done=" + step.want + "&q=ali"; w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("POST %s %s: %d %q, want %q\n%s", step.path, step.role, w.Code, w.Header().Get("Location"), want, w.Body)
		}
	}
	if u, _ := rg.svc.User(ctx, "alice"); u.Disabled || strings.Join(u.Roles, ",") != "temp" {
		t.Errorf("alice after the changes: %+v", u)
	}
	if w := rg.post("/admin/users/roles/add", url.Values{"username": {"alice"}, "role": {"nope"}}); w.Code != http.StatusNotFound {
		t.Errorf("an unknown role: %d", w.Code)
	}
	if w := rg.post("/admin/roles/delete", url.Values{"role": {"temp"}}); w.Header().Get("Location") != "/admin/roles?done=role-deleted" {
		t.Errorf("delete role: %d %v", w.Code, w.Header())
	}
	// Every change is the admin's, audited by the service.
	var actions []string
	rg.signals.mu.Lock()
	for _, a := range rg.signals.args {
		if a, ok := a.(*signals.AdminAction); ok && a.Admin == rootName && a.Via == "session" {
			actions = append(actions, a.Action+" "+a.Target)
		}
	}
	rg.signals.mu.Unlock()
	for _, want := range []string{"role_created staff", "role_permissions_revoked staff", "user_created alice", "user_role_added alice",
		"user_disabled alice", "user_enabled alice", "role_deleted temp"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no admin_action %q by root through the session: %q", want, actions)
		}
	}

	// The list: search and pagination.
	for i := range 5 {
		if _, err := rg.svc.CreateUser(ctx, admin.Caller{}, fmt.Sprintf("bob%d", i), "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	page = rg.get("/admin/users?q=bob&limit=2").Body.String()
	if !strings.Contains(page, "Showing 1–2 of 5.") || strings.Contains(page, `<th scope="row">alice`) {
		t.Errorf("search:\n%s", page)
	}
	if next := links(page, "Next page"); len(next) != 1 || next[0] != "/admin/users?limit=2&offset=2&q=bob" {
		t.Errorf("next link %q", next)
	}
	page = rg.get("/admin/users?role=staff").Body.String()
	if !strings.Contains(page, "No user matches.") {
		t.Errorf("users with role staff:\n%s", page)
	}
	if w := rg.get("/admin/users?disabled=maybe"); w.Code != http.StatusBadRequest {
		t.Errorf("disabled=maybe: %d", w.Code)
	}
}
