package strictjson_test

import (
	"reflect"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// loginBody has the shape of the host's POST /v1/login body, the body a
// flood sends.
type loginBody struct {
	Username    *string           `json:"username"`
	Password    *string           `json:"password"`
	Credentials map[string]string `json:"credentials"`
	Client      *client           `json:"client"`
}

// BenchmarkCheck checks a valid login body: the work every login's body
// costs before it is decoded.
func BenchmarkCheck(b *testing.B) {
	raw := []byte(`{"username":"victim","password":"wrong","client":{"ip":"203.0.113.7","user_agent":"curl/8"}}`)
	t := reflect.TypeFor[loginBody]()
	b.ReportAllocs()
	for b.Loop() {
		if p := strictjson.Check(raw, t); len(p) > 0 {
			b.Fatal(p)
		}
	}
}
