package supervisor_test

// The plugin hop benchmark (issue #2): what one plugin process in the login
// chain costs, against the same chain called in-process and against a bare
// gRPC round trip over a unix socket measured in the same run.
//
//	go test ./host/supervisor -run '^$' -bench . -count 10
//
// The plugins are real subprocesses started by the real supervisor (go-plugin,
// gRPC, AutoMTLS). Their executable is this test binary: TestMain serves the
// Scripted test plugin when it is started with benchPluginArg, so nothing has
// to be built outside `go test`. docs/benchmarks.md records the figures.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/supervisor"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/notrace"
	"github.com/portcullis-auth/portcullis/testkit/testplugin"
)

// benchPluginArg, as the last argument, makes the test binary serve the
// Scripted plugin instead of running tests. It is an argument rather than an
// environment variable because the supervisor starts plugins with a minimal
// allowlisted environment (pluginEnv); go-plugin adds its handshake
// variables (the magic cookie among them) on top of that.
const benchPluginArg = "portcullis-bench-plugin"

// benchEchoArg, followed by a socket path, makes the test binary echo what
// it reads on that socket (see BenchmarkUnixSocketRoundTrip).
const benchEchoArg = "portcullis-bench-echo"

// benchHealthArg, followed by a socket path and a TLS directory, makes the
// test binary serve a bare gRPC health server (see serveHealthInChild).
const benchHealthArg = "portcullis-bench-health"

func TestMain(m *testing.M) {
	if n := len(os.Args); n > 1 && os.Args[n-1] == benchPluginArg {
		if os.Getenv(hostside.Handshake.MagicCookieKey) != hostside.Handshake.MagicCookieValue {
			fmt.Fprintln(os.Stderr, "supervisor test binary: started as a plugin without the go-plugin handshake")
			os.Exit(2)
		}
		sdk.Serve(&testplugin.Scripted{}) // never returns
	}
	if n := len(os.Args); n > 3 && os.Args[n-3] == benchHealthArg {
		runHealthChild(os.Args[n-2:]) // never returns
	}
	if n := len(os.Args); n > 2 && os.Args[n-2] == benchEchoArg {
		runEchoChild(os.Args[n-1:]) // never returns
	}
	os.Exit(notrace.Run("pcst-", m.Run))
}

// benchPluginCommand is Options.BuiltinCommand for the benchmarks: this test
// binary, told to run no tests ("-test.run=^$", in case the argument were
// ever not recognised) and to serve the plugin.
func benchPluginCommand(string) (*exec.Cmd, error) {
	return exec.Command(os.Args[0], "-test.run=^$", benchPluginArg), nil
}

// Chain lengths measured, and the login every chain answers.
var (
	chainLengths = []int{1, 2, 4}
	benchLogin   = &sdk.AuthenticateRequest{
		RequestID: "bench",
		Username:  "alice",
		Password:  "s3cret",
		Client:    sdk.Client{IP: "127.0.0.1", UserAgent: "bench"},
		Path:      "/v1/login",
	}
)

const (
	// linkTimeout is the host's default per-backend timeout; both the
	// in-process and the plugin chains pay for its context.
	linkTimeout = 5 * time.Second
	abstainCfg  = `{"answers":{"*":"abstain"}}`
	grantCfg    = `{"answers":{"alice":"identity","*":"abstain"}}`
)

// BenchmarkLogin runs one login through chains of 1, 2 and 4 Scripted
// backends where all but the last abstain and the last grants: once with
// the backends called in-process, once with each backend a plugin process.
func BenchmarkLogin(b *testing.B) {
	// In-process: three abstainers and one granter, configured directly.
	var inproc []sdk.Authenticator
	for i, cfg := range []string{abstainCfg, abstainCfg, abstainCfg, grantCfg} {
		s := &testplugin.Scripted{}
		err := s.Configure(context.Background(), &sdk.ConfigureRequest{
			Instance: fmt.Sprintf("inproc-%d", i), Config: json.RawMessage(cfg), Host: sdktest.NewMemoryHost(),
		})
		if err != nil {
			b.Fatalf("configuring in-process backend: %v", err)
		}
		inproc = append(inproc, s)
	}

	// Plugins: the same four backends as processes, started once for every
	// chain length (a chain of N uses abstainers 0..N-2 and the granter).
	sup := supervisor.New(supervisor.Options{
		StartTimeout:   30 * time.Second,
		BackoffMin:     100 * time.Millisecond,
		BackoffMax:     time.Second,
		StopGrace:      5 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
		BuiltinCommand: benchPluginCommand,
	})
	names := []string{"abstain-0", "abstain-1", "abstain-2", "grant"}
	specs := make([]supervisor.Spec, len(names))
	for i, name := range names {
		cfg := abstainCfg
		if name == "grant" {
			cfg = grantCfg
		}
		specs[i] = supervisor.Spec{
			Name:     name,
			Plugin:   "scripted",
			Config:   json.RawMessage(cfg),
			Host:     newTestHost(),
			Requires: []hostside.Capability{hostside.Authenticator},
		}
	}
	if err := sup.Start(context.Background(), specs); err != nil {
		b.Fatalf("starting plugins: %v", err)
	}
	b.Cleanup(sup.Stop)
	var plugins []sdk.Authenticator
	for _, name := range names {
		plugins = append(plugins, sup.Instance(name).Authenticator())
	}

	for _, variant := range []struct {
		name  string
		auths []sdk.Authenticator
	}{{"inprocess", inproc}, {"plugins", plugins}} {
		for _, n := range chainLengths {
			c := newChain(variant.auths, n)
			b.Run(fmt.Sprintf("%s-%d", variant.name, n), func(b *testing.B) {
				benchmarkChain(b, c, n)
			})
		}
	}
}

// newChain builds a chain of n links from auths: the first n-1 abstainers
// and the granter, which is always the last of auths.
func newChain(auths []sdk.Authenticator, n int) *chain.Chain {
	links := make([]chain.Link, 0, n)
	for i := range n - 1 {
		links = append(links, chain.Link{Name: fmt.Sprintf("b%d", i), Authenticator: auths[i], Timeout: linkTimeout})
	}
	links = append(links, chain.Link{Name: "grant", Authenticator: auths[len(auths)-1], Timeout: linkTimeout})
	return chain.New(nil, links...)
}

func benchmarkChain(b *testing.B, c *chain.Chain, n int) {
	ctx := context.Background()
	// One login outside the timer checks the chain answers as intended.
	if res := c.Run(ctx, benchLogin).Result; res.Outcome != chain.Success || res.Backend != "grant" {
		b.Fatalf("login through %d backends: %+v; want success from the last", n, res)
	}
	b.ReportAllocs()
	for b.Loop() {
		login := c.Run(ctx, benchLogin)
		if login.Result.Outcome != chain.Success {
			b.Fatal(login.Result.Err)
		}
		if err := login.End(ctx, sdk.LoginSucceeded, ""); err != nil {
			b.Fatal(err)
		}
	}
	// Total time per backend; the cost of a hop alone is this minus the
	// in-process figure for the same chain length (docs/benchmarks.md).
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N)/float64(n), "µs/backend")
}

// BenchmarkGRPCUnixRoundTrip is the yardstick for a hop: one unary gRPC
// call (health Check) over a unix socket with nothing else around it.
//
//   - plaintext-xproc: the server in a child process, no TLS: the bare form
//     of what a plugin hop is, a gRPC call to another process. The issue's
//     target (a hop at most 2× a bare round trip) is judged against this.
//   - mtls-xproc: the same with mutual TLS and P-521 certificates, the shape
//     of go-plugin's AutoMTLS.
//   - plaintext, mtls: client and server in this process (for information:
//     against the -xproc figures they give the price of crossing a process
//     boundary, which no plugin hop can avoid).
func BenchmarkGRPCUnixRoundTrip(b *testing.B) {
	b.Run("plaintext", func(b *testing.B) {
		conn := dialHealth(b, serveHealthHere(b, nil), insecure.NewCredentials())
		benchmarkHealthRTT(b, conn)
	})
	b.Run("mtls", func(b *testing.B) {
		m := newMutualTLS(b)
		conn := dialHealth(b, serveHealthHere(b, m.server()), m.client())
		benchmarkHealthRTT(b, conn)
	})
	b.Run("plaintext-xproc", func(b *testing.B) {
		conn := dialHealth(b, serveHealthInChild(b, nil), insecure.NewCredentials())
		benchmarkHealthRTT(b, conn)
	})
	b.Run("mtls-xproc", func(b *testing.B) {
		m := newMutualTLS(b)
		conn := dialHealth(b, serveHealthInChild(b, m), m.client())
		benchmarkHealthRTT(b, conn)
	})
}

// BenchmarkUnixSocketRoundTrip is the floor under every yardstick above:
// 64 bytes written to a unix socket and echoed back, with no gRPC, no HTTP/2
// and no TLS, to a goroutine in this process (same-process) and to a child
// process (xproc). A gRPC call costs more than this because each side hands
// every message between several goroutines (reader, handler, writer), and
// between processes each hand-over can wake a sleeping thread.
func BenchmarkUnixSocketRoundTrip(b *testing.B) {
	b.Run("same-process", func(b *testing.B) {
		path := filepath.Join(socketDir(b), "s")
		ln, err := net.Listen("unix", path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ln.Close() })
		go serveEcho(ln)
		benchmarkEchoRTT(b, path)
	})
	b.Run("xproc", func(b *testing.B) {
		path := filepath.Join(socketDir(b), "s")
		startChild(b, benchEchoArg, path)
		benchmarkEchoRTT(b, path)
	})
}

func benchmarkEchoRTT(b *testing.B, path string) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	msg, buf := make([]byte, 64), make([]byte, 64)
	for b.Loop() {
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// serveEcho echoes whatever each connection on ln sends, until ln closes.
func serveEcho(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			_, _ = io.Copy(conn, conn)
		}()
	}
}

// runEchoChild is the child side of the xproc echo benchmark: args is the
// socket path.
func runEchoChild(args []string) {
	ln, err := net.Listen("unix", args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo child:", err)
		os.Exit(1)
	}
	exitWithStdin()
	fmt.Println("ready")
	serveEcho(ln)
	os.Exit(0)
}

func benchmarkHealthRTT(b *testing.B, conn *grpc.ClientConn) {
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	req := &healthpb.HealthCheckRequest{}
	if _, err := hc.Check(ctx, req); err != nil { // connects and handshakes
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hc.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// socketDir returns a short-named temporary directory: unix socket paths
// are limited to about 100 bytes, which b.TempDir() can exceed.
func socketDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "hopbench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveHealthHere serves a health server on a new unix socket in this
// process and returns the socket's path.
func serveHealthHere(b *testing.B, creds credentials.TransportCredentials) string {
	path := filepath.Join(socketDir(b), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	srv := newHealthServer(creds)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return path
}

func newHealthServer(creds credentials.TransportCredentials) *grpc.Server {
	var opts []grpc.ServerOption
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return srv
}

func dialHealth(b *testing.B, path string, creds credentials.TransportCredentials) *grpc.ClientConn {
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(creds))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// serveHealthInChild runs this test binary as a health server (see
// TestMain and runHealthChild) on a new unix socket, with mutual TLS if m is
// not nil, and returns the socket's path once it listens. The child exits
// when its stdin closes, so it dies with this process.
func serveHealthInChild(b *testing.B, m *mutualTLS) string {
	dir := socketDir(b)
	path := filepath.Join(dir, "s")
	tlsDir := ""
	if m != nil {
		tlsDir = dir
		if err := m.write(dir); err != nil {
			b.Fatal(err)
		}
	}
	startChild(b, benchHealthArg, path, tlsDir)
	return path
}

// startChild runs this test binary with args after "-test.run=^$" (which
// TestMain recognises) and waits until the child prints "ready". The
// child's stdin is a pipe that closes when this process ends, and the child
// exits then, so it dies with this process.
func startChild(b *testing.B, args ...string) {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("%s child: %q, %v", args[0], line, err)
	}
}

// exitWithStdin makes a child process exit when its stdin closes, that is
// when the benchmark process ends, however it ends.
func exitWithStdin() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

// runHealthChild is the child side of serveHealthInChild: args are the
// socket path and the directory holding cert.pem and key.pem ("" for no
// TLS).
func runHealthChild(args []string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "health server child:", err)
		os.Exit(1)
	}
	if len(args) != 2 {
		fail(fmt.Errorf("want a socket path and a TLS directory, got %q", args))
	}
	var creds credentials.TransportCredentials
	if dir := args[1]; dir != "" {
		m, err := readMutualTLS(dir)
		if err != nil {
			fail(err)
		}
		creds = m.server()
	}
	ln, err := net.Listen("unix", args[0])
	if err != nil {
		fail(err)
	}
	exitWithStdin()
	fmt.Println("ready")
	_ = newHealthServer(creds).Serve(ln)
	os.Exit(0)
}

// mutualTLS is one self-signed P-521 certificate for "localhost" that both
// sides present and trust, the shape of go-plugin's AutoMTLS.
type mutualTLS struct {
	certPEM, keyPEM []byte
	cert            tls.Certificate
	pool            *x509.CertPool
}

func newMutualTLS(b *testing.B) *mutualTLS {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	m, err := parseMutualTLS(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func parseMutualTLS(certPEM, keyPEM []byte) (*mutualTLS, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &mutualTLS{certPEM: certPEM, keyPEM: keyPEM, cert: cert, pool: pool}, nil
}

func (m *mutualTLS) write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), m.certPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), m.keyPEM, 0o600)
}

func readMutualTLS(dir string) (*mutualTLS, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	return parseMutualTLS(certPEM, keyPEM)
}

func (m *mutualTLS) server() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.pool,
		MinVersion:   tls.VersionTLS12,
	})
}

func (m *mutualTLS) client() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{m.cert},
		RootCAs:      m.pool,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS12,
	})
}

// benchHost is an in-memory host that the supervisor can tell what a
// plugin is.
type benchHost struct{ *sdktest.MemoryHost }

func (benchHost) Declare(bool, []string) {}

func newTestHost() benchHost { return benchHost{sdktest.NewMemoryHost()} }
