package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP collector inside the test process: it takes
// spans over OTLP/HTTP (protobuf, POST /v1/traces) and OTLP/gRPC, and keeps
// them for the test to read. Hosts and their plugin processes export to it.
type otlpReceiver struct {
	// httpURL and grpcURL are the base URLs to configure
	// (telemetry.otlp_endpoint) for each protocol.
	httpURL, grpcURL string
	// keep is false for a receiver that only counts what it decodes (a
	// benchmark's).
	keep bool

	count atomic.Int64 // spans received
	mu    sync.Mutex
	spans []receivedSpan
}

// receivedSpan is one span as a collector received it, flattened.
type receivedSpan struct {
	Service           string // the resource's service.name
	TraceID, SpanID   string
	ParentID          string // "" for a root
	Name              string
	Kind              tracepb.Span_SpanKind
	Attrs, ResAttrs   map[string]string
	StatusCode        tracepb.Status_StatusCode
	StatusDescription string
}

// startOTLPReceiver starts both endpoints on loopback until the test ends.
func startOTLPReceiver(t testing.TB, keep bool) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{keep: keep}

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", rcv.serveHTTP)
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(hl) }()
	rcv.httpURL = "http://" + hl.Addr().String()

	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(gs, traceService{rcv: rcv})
	go func() { _ = gs.Serve(gl) }()
	rcv.grpcURL = "http://" + gl.Addr().String()

	t.Cleanup(func() {
		_ = hs.Close()
		gs.Stop()
	})
	return rcv
}

func (rcv *otlpReceiver) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !rcv.keep {
		// A collector runs elsewhere: what a benchmark's costs here is
		// kept to counting.
		n, ok := countSpans(body)
		if !ok {
			http.Error(w, "not an ExportTraceServiceRequest", http.StatusBadRequest)
			return
		}
		rcv.count.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	rcv.take(&req)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	rcv *otlpReceiver
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.rcv.take(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// take keeps (or counts) the spans of one export.
func (rcv *otlpReceiver) take(req *coltracepb.ExportTraceServiceRequest) {
	var got []receivedSpan
	var n int64
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			n += int64(len(ss.GetSpans()))
			if !rcv.keep {
				continue
			}
			for _, sp := range ss.GetSpans() {
				got = append(got, receivedSpan{
					Service: res["service.name"], TraceID: hex.EncodeToString(sp.GetTraceId()),
					SpanID: hex.EncodeToString(sp.GetSpanId()), ParentID: hex.EncodeToString(sp.GetParentSpanId()),
					Name: sp.GetName(), Kind: sp.GetKind(), Attrs: attrMap(sp.GetAttributes()), ResAttrs: res,
					StatusCode: sp.GetStatus().GetCode(), StatusDescription: sp.GetStatus().GetMessage(),
				})
			}
		}
	}
	rcv.count.Add(n)
	if rcv.keep {
		rcv.mu.Lock()
		rcv.spans = append(rcv.spans, got...)
		rcv.mu.Unlock()
	}
}

// received returns the spans kept so far.
func (rcv *otlpReceiver) received() []receivedSpan {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]receivedSpan(nil), rcv.spans...)
}

// attrMap flattens attributes to text.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyText(kv.GetValue())
	}
	return m
}

func anyText(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_ArrayValue:
		var s string
		for _, e := range x.ArrayValue.GetValues() {
			s += anyText(e) + ","
		}
		return s
	case *commonpb.AnyValue_KvlistValue:
		var s string
		for _, kv := range x.KvlistValue.GetValues() {
			s += kv.GetKey() + "=" + anyText(kv.GetValue()) + ","
		}
		return s
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *commonpb.AnyValue_BytesValue:
		return string(x.BytesValue)
	}
	return ""
}

// countSpans counts the spans of an encoded ExportTraceServiceRequest
// without decoding them: resource_spans (1) → scope_spans (2) → spans (2).
func countSpans(b []byte) (int64, bool) {
	var n int64
	ok := eachField(b, 1, func(rs []byte) bool {
		return eachField(rs, 2, func(ss []byte) bool {
			return eachField(ss, 2, func([]byte) bool { n++; return true })
		})
	})
	return n, ok
}

// eachField calls f with every length-delimited field number num of the
// message b; it reports false for a message that does not parse.
func eachField(b []byte, num protowire.Number, f func([]byte) bool) bool {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 || !f(v) {
				return false
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return false
		}
		b = b[l:]
	}
	return true
}
