#!/bin/sh
# Regenerates plugin_pb2.py, the Python classes of the plugin protocol's
# messages, from sdk/internal/pb/plugin.proto. Needs protoc (Debian:
# apt-get install protobuf-compiler); its version must suit the protobuf
# package the backend runs with (Debian 12: protoc 3.21 and
# python3-protobuf 4.21). Run it from anywhere: sh examples/python/gen.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto="$here/../../sdk/internal/pb"
protoc -I "$proto" --python_out="$here" "$proto/plugin.proto"
