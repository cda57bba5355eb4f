package config

import (
	"errors"
	"slices"
	"strings"
)

// minSecret is the shortest value from the environment that Redact hides:
// a shorter one (a port digit, "on") is no secret, and hiding it would
// mangle every number and word it occurs in.
const minSecret = 4

// secrets are the values ${NAME} put into a configuration, each with the
// reference it came from. A DSN's password or a webhook's token is often
// given this way so that it is not in the file; messages about the
// configuration show the reference instead of the value.
type secrets struct {
	refs []secret // longest value first
}

type secret struct{ value, ref string }

func (s *secrets) add(name, value string) {
	if len(value) < minSecret || slices.ContainsFunc(s.refs, func(x secret) bool { return x.value == value }) {
		return
	}
	s.refs = append(s.refs, secret{value: value, ref: "${" + name + "}"})
	slices.SortStableFunc(s.refs, func(a, b secret) int { return len(b.value) - len(a.value) })
}

// redact replaces every value from the environment in text with its
// ${NAME}. Longer values go first, so a value inside another is not left
// half shown.
func (s *secrets) redact(text string) string {
	for _, x := range s.refs {
		text = strings.ReplaceAll(text, x.value, x.ref)
	}
	return text
}

func (s *secrets) problems(ps []Problem) []Problem {
	if len(s.refs) == 0 {
		return ps
	}
	out := make([]Problem, len(ps))
	for i, p := range ps {
		p.Path, p.Message = s.redact(p.Path), s.redact(p.Message)
		out[i] = p
	}
	return out
}

// Redact replaces in text every value the configuration took from the
// environment (at least four characters long) with the ${NAME} it came
// from: for messages about the configuration that quote what it holds,
// such as a plugin's configuration problems or a storage error naming its
// DSN.
func (c *Config) Redact(text string) string { return c.secrets.redact(text) }

// RedactError returns err with Redact applied to its message; a
// configuration error stays one (its problems redacted), so its exit
// status is kept.
func (c *Config) RedactError(err error) error {
	if err == nil || len(c.secrets.refs) == 0 {
		return err
	}
	var ce *Error
	if errors.As(err, &ce) {
		return &Error{Source: ce.Source, Problems: c.secrets.problems(ce.Problems)}
	}
	msg := c.Redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return redacted{msg: msg, err: err}
}

// redacted is an error whose message is redacted; errors.Is still sees the
// error it stands for.
type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }
