package testplugin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
	"github.com/portcullis-auth/portcullis/testkit/reach"
)

// Hostile is an Authenticator that attacks the host from inside a real
// plugin process, for the tests of least privilege. It abstains from every
// login; a login as its trigger username makes it try, through its sdk.Host:
//
//   - to read the victim's password hash (AttackLookup);
//   - to replace it with a hash of attacker_password, from the hash it read
//     (AttackSetHash), so that the attacker could log in as the victim;
//   - to reach the storage of the instance named neighbour: each instance
//     writes the key "shared" (its own name) and "own.<instance>" when it is
//     configured, and then reads "shared" (AttackStorageShared), lists every
//     key it sees (AttackStorageList) and reads keys that name the
//     neighbour's (AttackStorageNeighbour);
//   - to emit host signals about the victim (user_logged_in, which used to
//     reset a lockout; user_locked_out; lockout_reset; plugin_started), all
//     of which its metadata declares; a plugin-allowed catalogue signal it
//     does not declare (oauth2_token_fetched); a custom name it does not
//     declare; and, as the control that emitting works at all, the custom
//     signal it declares (HostileProbe).
//
// Every forged signal carries ForgedMarker in its arguments, so a test can
// look for it wherever signals arrive. Each attempt is appended to the file
// named by record as one JSON line (a HostileAttempt), before the login is
// answered.
//
//	config: {record: /path/results.jsonl, victim: alice, victim_ip: 203.0.113.9,
//	         attacker_password: hunter2, neighbour: other-instance, trigger: attack}
type Hostile struct {
	mu       sync.Mutex
	cfg      HostileConfig
	instance string
	host     sdk.Host
	// attackerHash is a hash of cfg.AttackerPassword in the password
	// backend's format: anyone can make one.
	attackerHash string
}

// HostileConfig is Hostile's configuration.
type HostileConfig struct {
	Record           string `json:"record"`
	Trigger          string `json:"trigger"`
	Victim           string `json:"victim"`
	VictimIP         string `json:"victim_ip"`
	AttackerPassword string `json:"attacker_password"`
	Neighbour        string `json:"neighbour"`
	// HostFiles are files of the host's (its database, its configuration)
	// that the plugin tries to read and to open for writing.
	HostFiles []string `json:"host_files"`
	// PidMax is the kernel's pid_max, which a confined plugin cannot read,
	// for the search of the host's threads.
	PidMax int `json:"pid_max"`
}

// HostileAttempt is one attack and what came of it.
type HostileAttempt struct {
	Instance string `json:"instance"`
	Attack   string `json:"attack"`
	// Denied is errors.Is(err, sdk.ErrPermissionDenied).
	Denied bool   `json:"denied"`
	Error  string `json:"error,omitempty"`
	// Value is what the attack obtained: a password hash, a stored value,
	// a list of keys, a signal id.
	Value string `json:"value,omitempty"`
}

// Succeeded reports whether the attempt returned no error.
func (a HostileAttempt) Succeeded() bool { return a.Error == "" }

// The attacks, as named in HostileAttempt.Attack.
const (
	AttackLookup           = "lookup_hash"
	AttackSetHash          = "set_hash"
	AttackStorageShared    = "storage_shared"
	AttackStorageList      = "storage_list"
	AttackStorageNeighbour = "storage_neighbour:" // + the key tried
	AttackEmit             = "emit:"              // + the signal name
	// AttackReadFile reads one of HostFiles; its Value is the first
	// password hash in the file, if there is one.
	AttackReadFile = "read_file:" // + the path
	// AttackWriteFile opens one of HostFiles for writing (and writes
	// nothing).
	AttackWriteFile = "write_file:" // + the path
	// AttackHostFDs lists the host's open files (/proc/<host>/fd) and
	// reads each that is a regular file; its Value is the first password
	// hash found.
	AttackHostFDs = "host_fds"
	// AttackHostThreads signals 0 to each of the host's threads (tgkill,
	// on the thread ids from the host's to the plugin's), and
	// AttackHostFileThroughThread takes a host descriptor (pidfd_getfd)
	// through the host or any of those threads.
	AttackHostThreads           = "host_threads"
	AttackHostFileThroughThread = "host_file_through_thread"
)

// HostileProbe is the custom signal Hostile declares and may send.
const HostileProbe = "hostile.probe"

// HostileUndeclared is a custom signal Hostile sends without declaring it.
const HostileUndeclared = "hostile.undeclared"

// ForgedMarker is in the arguments of every signal Hostile forges.
const ForgedMarker = "forged-by-hostile"

// HostileForged are the signals Hostile tries to send and must not.
var HostileForged = []string{"user_logged_in", "user_locked_out", "lockout_reset", "plugin_started", "oauth2_token_fetched", HostileUndeclared}

// Metadata implements sdk.Plugin. It declares the host's signals it forges,
// to show that declaring them does not help.
func (h *Hostile) Metadata() sdk.Metadata {
	return sdk.Metadata{
		Name: "hostile", Version: "test",
		Emits: []string{"user_logged_in", "user_locked_out", "lockout_reset", "plugin_started", HostileProbe},
	}
}

// Configure implements sdk.Plugin.
func (h *Hostile) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	var cfg HostileConfig
	if err := req.DecodeConfig(&cfg); err != nil {
		return err
	}
	var problems []sdk.FieldError
	for path, v := range map[string]string{"record": cfg.Record, "victim": cfg.Victim} {
		if v == "" {
			problems = append(problems, sdk.FieldError{Path: path, Message: "is required"})
		}
	}
	if len(problems) > 0 {
		return &sdk.ConfigError{Problems: problems}
	}
	if cfg.Trigger == "" {
		cfg.Trigger = "hostile-trigger"
	}
	hash, err := password.Hash(cfg.AttackerPassword, password.DefaultArgon2Params)
	if err != nil {
		return err
	}
	// What the neighbour will try to reach.
	kv := req.Host.Storage()
	if err := kv.Put(ctx, "shared", []byte(req.Instance), 0); err != nil {
		return fmt.Errorf("writing its own key: %w", err)
	}
	if err := kv.Put(ctx, "own."+req.Instance, []byte(req.Instance), 0); err != nil {
		return fmt.Errorf("writing its own key: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cfg, h.instance, h.host, h.attackerHash = cfg, req.Instance, req.Host, hash
	return nil
}

// Authenticate implements sdk.Authenticator: it abstains, after attacking
// if the username is its trigger.
func (h *Hostile) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.Username == h.cfg.Trigger {
		if err := h.attack(ctx); err != nil {
			return err
		}
	}
	resp.Abstain("")
	return nil
}

// attack tries every attack and records each attempt.
func (h *Hostile) attack(ctx context.Context) error {
	var out []HostileAttempt
	note := func(attack, value string, err error) {
		a := HostileAttempt{Instance: h.instance, Attack: attack, Value: value, Denied: errors.Is(err, sdk.ErrPermissionDenied)}
		if err != nil {
			a.Error = err.Error()
		}
		out = append(out, a)
	}

	// The victim's password hash: read it, then replace it.
	users := h.host.Users()
	victim, err := users.LookupUser(ctx, h.cfg.Victim)
	note(AttackLookup, victim.PasswordHash, err)
	note(AttackSetHash, "", users.SetPasswordHash(ctx, victim.ID, victim.PasswordHash, h.attackerHash))

	// The neighbour's storage.
	kv := h.host.Storage()
	shared, err := kv.Get(ctx, "shared")
	note(AttackStorageShared, string(shared.Value), err)
	entries, err := kv.List(ctx, "")
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	note(AttackStorageList, strings.Join(keys, ","), err)
	n := h.cfg.Neighbour
	for _, key := range []string{"own." + n, n + "/shared", "../" + n + "/shared", n + ":shared", n + ".shared"} {
		e, err := kv.Get(ctx, key)
		note(AttackStorageNeighbour+key, string(e.Value), err)
	}

	// Signals.
	client := sdk.Client{IP: h.cfg.VictimIP, UserAgent: ForgedMarker}
	forged := []struct {
		name string
		args any
	}{
		{"user_logged_in", signals.UserLoggedIn{UserID: victim.ID, Username: h.cfg.Victim, UserType: "user", Client: client,
			Backend: "local", RequestID: ForgedMarker, Path: "/v1/login"}},
		{"user_locked_out", signals.UserLockedOut{Backend: "lockout", Username: h.cfg.Victim, Client: client, Failures: 99, Group: ForgedMarker}},
		{"lockout_reset", signals.LockoutReset{Backend: ForgedMarker, Username: h.cfg.Victim, ClientIP: h.cfg.VictimIP, Removed: 99}},
		{"plugin_started", signals.PluginStarted{Backend: "lockout", Plugin: ForgedMarker, PID: 1}},
		{"oauth2_token_fetched", signals.OAuth2TokenFetched{Backend: ForgedMarker, Scope: "openid"}},
		{HostileUndeclared, map[string]string{"marker": ForgedMarker}},
		// The control: the one signal it may send.
		{HostileProbe, map[string]string{"instance": h.instance}},
	}
	for _, f := range forged {
		id, err := h.host.Signals().Emit(ctx, f.name, f.args)
		note(AttackEmit+f.name, id, err)
	}

	// The host's files, past the host: as the host's own user, directly
	// and through the host's open files.
	for _, path := range h.cfg.HostFiles {
		data, err := os.ReadFile(path)
		note(AttackReadFile+path, firstHash(data), err)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			err = f.Close()
		}
		note(AttackWriteFile+path, "", err)
	}
	found, err := readHostFDs(os.Getppid())
	note(AttackHostFDs, found, err)
	tids := reach.Threads(os.Getppid(), os.Getpid(), h.cfg.PidMax)
	note(AttackHostThreads, "", reach.SignalAThread(os.Getppid(), tids))
	note(AttackHostFileThroughThread, "", reach.TakeAFile(os.Getppid(), tids))
	return appendAttempts(h.cfg.Record, out)
}

// argon2idHash matches a password hash in the password backend's format,
// with its default 16-byte salt and 32-byte key.
var argon2idHash = regexp.MustCompile(`\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}`)

// firstHash returns the first password hash in data, or "".
func firstHash(data []byte) string { return string(argon2idHash.Find(data)) }

// readHostFDs reads the regular files the process pid has open, through
// /proc/pid/fd, and returns the first password hash in them.
func readHostFDs(pid int) (string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, fd := range fds {
		path := filepath.Join(dir, fd.Name())
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue // a pipe or a socket would block
		}
		data, err := os.ReadFile(path)
		if err == nil {
			if h := firstHash(data); h != "" {
				return h, nil
			}
		}
	}
	return "", nil
}

func appendAttempts(path string, attempts []HostileAttempt) error {
	var b strings.Builder
	for _, a := range attempts {
		line, err := json.Marshal(a)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadHostileAttempts reads the attempts recorded in the file at path, by
// instance and then by attack.
func ReadHostileAttempts(path string) (map[string]map[string]HostileAttempt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]HostileAttempt{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var a HostileAttempt
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		if out[a.Instance] == nil {
			out[a.Instance] = map[string]HostileAttempt{}
		}
		out[a.Instance][a.Attack] = a
	}
	return out, sc.Err()
}

// Interface guard.
var _ sdk.Authenticator = (*Hostile)(nil)
