package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestCountersAndText(t *testing.T) {
	r := New()
	c := r.Counter("portcullis_logins_total", "Logins by outcome.", "outcome")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Inc("success") }()
	}
	wg.Wait()
	c.Add(3, `fail"ed`)
	if c.Value("success") != 50 || c.Value("nothing") != 0 {
		t.Fatalf("values: %d %d", c.Value("success"), c.Value("nothing"))
	}
	if r.Counter("portcullis_logins_total", "", "outcome") != c {
		t.Fatal("the same name gave another counter")
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "# HELP portcullis_logins_total Logins by outcome.\n# TYPE portcullis_logins_total counter\n" +
		"portcullis_logins_total{outcome=\"fail\\\"ed\"} 3\nportcullis_logins_total{outcome=\"success\"} 50\n"
	if b.String() != want {
		t.Fatalf("text:\n%s\nwant:\n%s", b.String(), want)
	}
}
