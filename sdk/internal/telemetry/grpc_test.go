package telemetry

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/portcullis-auth/portcullis/sdk/internal/pb"
)

// metadataServer answers Metadata, or fails it with a message quoting a
// username when fail is set.
type metadataServer struct {
	pb.UnimplementedPluginServer
	fail bool
	// inTrace records whether the method ran inside a span.
	inTrace bool
}

func (s *metadataServer) Metadata(ctx context.Context, _ *pb.MetadataRequest) (*pb.MetadataResponse, error) {
	s.inTrace = trace.SpanContextFromContext(ctx).IsValid()
	if s.fail {
		return nil, status.Error(codes.NotFound, "no user named zelda")
	}
	return &pb.MetadataResponse{Name: "x"}, nil
}

// hop connects a client, traced by ClientHandler with its own provider, to
// a server traced by ServerHandler with another, as the host and a plugin
// are two processes.
func hop(t *testing.T, srv *metadataServer) (pb.PluginClient, *sdktrace.TracerProvider, *tracetest.SpanRecorder, *tracetest.SpanRecorder) {
	t.Helper()
	clientSpans, serverSpans := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	clientTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(clientSpans))
	serverTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(serverSpans))
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer(grpc.StatsHandler(ServerHandler(serverTP)))
	pb.RegisterPluginServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(ClientHandler(clientTP)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
	})
	return pb.NewPluginClient(conn), clientTP, clientSpans, serverSpans
}

func TestACallInATraceCarriesItAcross(t *testing.T) {
	srv := &metadataServer{}
	client, tp, clientSpans, serverSpans := hop(t, srv)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "portcullis.backend x")
	if _, err := client.Metadata(ctx, &pb.MetadataRequest{}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var call sdktrace.ReadOnlySpan
	for _, s := range clientSpans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			call = s
		}
	}
	if call == nil || call.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("client spans %v: want a client span under the caller's", clientSpans.Ended())
	}
	// The server ends its span after it has sent the answer, so the
	// client can have the answer first.
	served := serverSpans.Ended()
	for deadline := time.Now().Add(5 * time.Second); len(served) == 0 && time.Now().Before(deadline); served = serverSpans.Ended() {
		time.Sleep(time.Millisecond)
	}
	if len(served) != 1 {
		t.Fatalf("%d server spans, want 1", len(served))
	}
	if s := served[0]; s.SpanKind() != trace.SpanKindServer || s.SpanContext().TraceID() != parent.SpanContext().TraceID() ||
		s.Parent().SpanID() != call.SpanContext().SpanID() || !s.Parent().IsRemote() {
		t.Errorf("server span %q kind %v, trace %s, parent %s; want a server span in trace %s under the client span %s",
			s.Name(), s.SpanKind(), s.SpanContext().TraceID(), s.Parent().SpanID(), parent.SpanContext().TraceID(), call.SpanContext().SpanID())
	}
	if !srv.inTrace {
		t.Error("the method did not run inside the server span")
	}
}

func TestACallOutsideATraceStartsNone(t *testing.T) {
	srv := &metadataServer{}
	client, _, clientSpans, serverSpans := hop(t, srv)
	if _, err := client.Metadata(context.Background(), &pb.MetadataRequest{}); err != nil {
		t.Fatal(err)
	}
	if n, m := len(clientSpans.Started()), len(serverSpans.Started()); n+m != 0 {
		t.Errorf("%d client and %d server spans for a call outside any trace; want none", n, m)
	}
	if srv.inTrace {
		t.Error("the method ran inside a span")
	}
}

func TestAFailedCallKeepsOnlyItsCode(t *testing.T) {
	client, tp, clientSpans, serverSpans := hop(t, &metadataServer{fail: true})
	ctx, parent := tp.Tracer("test").Start(context.Background(), "portcullis.backend x")
	if _, err := client.Metadata(ctx, &pb.MetadataRequest{}); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "zelda") {
		t.Fatalf("call: %v; want the server's NotFound, message and all", err)
	}
	parent.End()
	for _, s := range append(clientSpans.Ended(), serverSpans.Ended()...) {
		if strings.Contains(s.Status().Description, "zelda") {
			t.Errorf("span %q keeps the error's message: %q", s.Name(), s.Status().Description)
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "zelda") {
				t.Errorf("span %q keeps the error's message in %s", s.Name(), a.Key)
			}
		}
	}
}
