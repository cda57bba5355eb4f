// Package pb holds the generated protocol buffer code for the plugin
// protocol. Never edit the .pb.go files by hand: change plugin.proto and run
//
//	go generate ./sdk/internal/pb
//
// which needs protoc on PATH (Debian: apt-get install protobuf-compiler); the
// Go code generators are pinned as tools in go.mod.
package pb

//go:generate sh ./gen.sh
