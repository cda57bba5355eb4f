#!/bin/sh
# Regenerates plugin.pb.go and plugin_grpc.pb.go from plugin.proto with the
# generator versions pinned in go.mod, and the Python example's plugin_pb2.py.
# Run through `go generate ./sdk/internal/pb`.
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
protoc \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  plugin.proto
# The Python example's message classes come from the same file.
sh ../../../examples/python/gen.sh
