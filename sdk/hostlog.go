package sdk

import (
	"context"
	"log/slog"
)

// ownKeys are the keys a line of the plugin's logger has of its own, as
// slog names them and as go-plugin's host reads them.
var ownKeys = map[string]bool{
	slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true,
	"@timestamp": true, "@level": true, "@message": true,
}

// ownKeysRenamed is a slog.Handler that renames an attribute named as one
// of a line's own keys (ownKeys), outside any group, to "plugin." + its
// name, before the handler it wraps sees it. slog calls ReplaceAttr for
// such an attribute as for the line's own, so newHostLogger would write it
// as @message or @level, and go-plugin's host would take the attribute's
// value for the line's message or level: Logger().Info("saved", "level",
// 3) would reach the host as a line whose message is "saved" and level 3.
// The host writes a field of a plugin's line named as one of its own the
// same way (plugin-protocol.md, "Logging").
type ownKeysRenamed struct {
	slog.Handler
	grouped bool // WithGroup was called: attributes are inside a group
}

func (h ownKeysRenamed) Handle(ctx context.Context, r slog.Record) error {
	if h.grouped {
		return h.Handler.Handle(ctx, r)
	}
	renamed := false
	r.Attrs(func(a slog.Attr) bool {
		renamed = ownKeys[a.Key]
		return !renamed
	})
	if !renamed {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renameOwn(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h ownKeysRenamed) WithAttrs(attrs []slog.Attr) slog.Handler {
	if !h.grouped {
		renamed := make([]slog.Attr, len(attrs))
		for i, a := range attrs {
			renamed[i] = renameOwn(a)
		}
		attrs = renamed
	}
	return ownKeysRenamed{Handler: h.Handler.WithAttrs(attrs), grouped: h.grouped}
}

func (h ownKeysRenamed) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return ownKeysRenamed{Handler: h.Handler.WithGroup(name), grouped: true}
}

func renameOwn(a slog.Attr) slog.Attr {
	if ownKeys[a.Key] {
		a.Key = "plugin." + a.Key
	}
	return a
}
