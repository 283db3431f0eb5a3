package logring

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/streamforge/streamforge/pkg/wire"
)

// Handler is a slog.Handler that scrubs every record, then hands it to the
// inner handler (the agent's stderr) and keeps it in the ring. Scrubbing
// comes first, so a secret reaches neither.
type Handler struct {
	inner slog.Handler
	ring  *Ring
	scrub *Scrubber
	// pre is the text of the attributes added with WithAttrs (already
	// scrubbed), group the prefix of keys from WithGroup.
	pre, group string
}

// NewHandler wraps inner: records go through scrub to inner and to ring.
func NewHandler(inner slog.Handler, ring *Ring, scrub *Scrubber) *Handler {
	return &Handler{inner: inner, ring: ring, scrub: scrub}
}

// New wraps inner with a ring of the default bounds and a scrubber that
// knows secrets.
func New(inner slog.Handler, secrets ...string) *Handler {
	return NewHandler(inner, NewRing(0, 0), NewScrubber(secrets...))
}

// Ring is where the handler keeps lines.
func (h *Handler) Ring() *Ring { return h.ring }

// Scrubber is what the handler scrubs with; add secrets to it as they
// become known.
func (h *Handler) Scrubber() *Scrubber { return h.scrub }

// Enabled follows the inner handler: the ring keeps what the log shows.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle scrubs r, keeps it in the ring and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub.Scrub(r.Message), r.PC)
	var text strings.Builder
	text.WriteString(h.pre)
	r.Attrs(func(a slog.Attr) bool {
		a = h.scrubAttr(a)
		out.AddAttrs(a)
		appendAttr(&text, h.group, a)
		return true
	})
	h.ring.add(wire.LogEntry{Time: r.Time.UTC(), Level: levelName(r.Level),
		Message: wire.Cut(wire.Printable(out.Message), wire.MaxLogMessage), Attrs: wire.Cut(wire.Printable(strings.TrimPrefix(text.String(), " ")), wire.MaxLogAttrs)})
	return h.inner.Handle(ctx, out)
}

// WithAttrs scrubs as once, for every later record.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(as))
	var text strings.Builder
	text.WriteString(h.pre)
	for i, a := range as {
		scrubbed[i] = h.scrubAttr(a)
		appendAttr(&text, h.group, scrubbed[i])
	}
	c := *h
	c.inner, c.pre = h.inner.WithAttrs(scrubbed), text.String()
	return &c
}

// WithGroup qualifies later keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner, c.group = h.inner.WithGroup(name), h.group+name+"."
	return &c
}

// scrubAttr resolves a's value (LogValuers included) and scrubs its text:
// strings, errors and anything printed with %v become scrubbed strings;
// numbers, booleans, times and durations carry no secret and stay typed.
func (h *Handler) scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = h.scrubAttr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindString:
		return slog.String(a.Key, h.scrub.Scrub(v.String()))
	case slog.KindAny:
		return slog.String(a.Key, h.scrub.Scrub(fmt.Sprint(v.Any())))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// appendAttr writes a (scrubbed) as " key=value", groups flattened to
// dotted keys, values quoted where they hold spaces or quotes.
func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		prefix := group
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			appendAttr(b, prefix, ga)
		}
		return
	}
	s := a.Value.String()
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = fmt.Sprintf("%q", s)
	}
	b.WriteString(" " + group + a.Key + "=" + s)
}

// levelName maps a slog level to one of wire.LogLevels.
func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}
