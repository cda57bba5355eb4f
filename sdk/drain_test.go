package sdk

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
	"github.com/portcullis-auth/portcullis/sdk/internal/telemetry"
	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// bigAnswer makes the slow call's answer large enough that it takes the
// transport a while to write it.
var bigAnswer = strings.Repeat("x", 1<<20)

// slowPlugin answers "slow" only once released, with a large identity,
// and everyone else at once.
type slowPlugin struct {
	entered chan struct{} // closed when the slow call has started
	release chan struct{} // closed to let it answer
}

func newSlowPlugin() *slowPlugin {
	return &slowPlugin{entered: make(chan struct{}), release: make(chan struct{})}
}

func (p *slowPlugin) Metadata() Metadata {
	return Metadata{Name: "slow", Version: "test"}
}

func (p *slowPlugin) Configure(context.Context, *ConfigureRequest) error { return nil }

func (p *slowPlugin) Authenticate(ctx context.Context, req *AuthenticateRequest, resp *AuthenticateResponse) error {
	if req.Username == "slow" {
		close(p.entered)
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	resp.Grant(Identity{Subject: "s:" + req.Username, Username: req.Username, Attributes: map[string]string{"big": bigAnswer}})
	return nil
}

// serveOverSocket serves p with the server Serve would build, over a unix
// socket, and returns the handle Serve stops it with and a client.
func serveOverSocket(t *testing.T, p Plugin) (*served, pb.AuthenticatorClient) {
	t.Helper()
	cfg, srv := serveConfig(p, io.Discard, telemetry.Plugin{})
	s := cfg.GRPCServer(nil)
	if err := cfg.Plugins[wire.PluginName].(goplugin.GRPCPlugin).GRPCServer(nil, s); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "plugin.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return srv, pb.NewAuthenticatorClient(conn)
}

// TestShutdownLetsInFlightCallAnswer: a call in flight when the plugin is
// told to stop gets its whole answer; a call made after draining began is
// refused with Unavailable; the server stops once the call has ended.
func TestShutdownLetsInFlightCallAnswer(t *testing.T) {
	p := newSlowPlugin()
	srv, client := serveOverSocket(t, p)
	ctx := context.Background()

	type result struct {
		resp *pb.AuthenticateResponse
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := client.Authenticate(ctx, &pb.AuthenticateRequest{Username: "slow"})
		slow <- result{resp, err}
	}()
	<-p.entered

	stopped := make(chan struct{})
	go func() {
		srv.shutdown(time.Minute)
		close(stopped)
	}()
	for !srv.drain.isDraining() {
		time.Sleep(time.Millisecond)
	}

	_, err := client.Authenticate(ctx, &pb.AuthenticateRequest{Username: "late"})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("call after draining began: %v, want code Unavailable", err)
	}
	select {
	case <-stopped:
		t.Fatal("shutdown returned with a call in flight")
	default:
	}

	close(p.release)
	r := <-slow
	if r.err != nil {
		t.Fatalf("in-flight call: %v, want its answer", r.err)
	}
	if id := r.resp.GetIdentity(); id.GetSubject() != "s:slow" || id.GetAttributes()["big"] != bigAnswer {
		t.Errorf("in-flight call: incomplete answer (subject %q, %d bytes of attribute)", id.GetSubject(), len(id.GetAttributes()["big"]))
	}
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("shutdown did not return after the in-flight call ended")
	}
	if _, err := client.Authenticate(ctx, &pb.AuthenticateRequest{Username: "after"}); err == nil {
		t.Error("a call after shutdown succeeded")
	}
}

// TestShutdownGivesUpAfterGrace: a call that outlives the grace period
// does not hold the plugin up for longer.
func TestShutdownGivesUpAfterGrace(t *testing.T) {
	p := newSlowPlugin()
	defer close(p.release)
	srv, client := serveOverSocket(t, p)

	slow := make(chan error, 1)
	go func() {
		_, err := client.Authenticate(context.Background(), &pb.AuthenticateRequest{Username: "slow"})
		slow <- err
	}()
	<-p.entered

	const grace = 200 * time.Millisecond
	start := time.Now()
	stopped := make(chan struct{})
	go func() {
		srv.shutdown(grace)
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("shutdown did not return after its grace period")
	}
	if d := time.Since(start); d < grace {
		t.Errorf("shutdown returned after %v, before the %v grace period", d, grace)
	}
	if err := <-slow; err == nil {
		t.Error("the call cut by the shutdown succeeded")
	}
}

// TestDrainerIdleStopsAtOnce: with no call in flight, stop returns at
// once, however often it is called.
func TestDrainerIdleStopsAtOnce(t *testing.T) {
	d := newDrainer()
	if !d.stop(time.Minute) {
		t.Fatal("an idle drainer did not report drained")
	}
	if !d.stop(0) {
		t.Fatal("a second stop did not report drained")
	}
}
