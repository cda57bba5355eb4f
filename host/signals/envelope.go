package signals

import (
	"encoding/json"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
)

// envelope is a signal as the built-in subscribers write it:
//
//	{"id":"…","name":"user_login_failed","sender":"local","origin":"host","time":"…","args":{…}}
type envelope struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Sender string          `json:"sender"`
	Origin string          `json:"origin"`
	Time   time.Time       `json:"time"`
	Args   json.RawMessage `json:"args"`
}

func encodeEnvelope(sig *sdk.Signal) ([]byte, error) {
	args := sig.Args
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	return json.Marshal(envelope{ID: sig.ID, Name: sig.Name, Sender: sig.Sender, Origin: sig.Origin, Time: sig.Time.UTC(), Args: args})
}
