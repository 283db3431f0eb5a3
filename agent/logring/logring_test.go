package logring

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/streamforge/streamforge/agent/secrets"
	"github.com/streamforge/streamforge/pkg/wire"
)

func TestRingBoundsLinesAndBytesAndCountsEvicted(t *testing.T) {
	r := NewRing(5, 1000)
	for i := range 12 {
		r.add(wire.LogEntry{Level: "INFO", Message: fmt.Sprintf("line %d", i+1)})
	}
	if n, _ := r.Len(); n != 5 {
		t.Fatalf("ring of 5 lines holds %d", n)
	}
	lines, dropped := r.Since(0, 100, 1<<20)
	if dropped != 7 || len(lines) != 5 || lines[0].Seq != 8 || lines[0].Message != "line 8" || lines[4].Seq != 12 {
		t.Fatalf("since 0: dropped %d, lines %+v", dropped, lines)
	}
	lines, dropped = r.Since(9, 2, 1<<20)
	if dropped != 0 || len(lines) != 2 || lines[0].Seq != 10 || lines[1].Seq != 11 {
		t.Fatalf("since 9, 2 lines: dropped %d, lines %+v", dropped, lines)
	}
	if lines, _ := r.Since(12, 100, 1<<20); len(lines) != 0 {
		t.Fatalf("since the newest: %+v", lines)
	}

	// Bytes: 100-byte messages in a 500-byte ring.
	r = NewRing(1000, 500)
	big := strings.Repeat("x", 100)
	for range 50 {
		r.add(wire.LogEntry{Level: "INFO", Message: big})
	}
	n, b := r.Len()
	if b > 500 || n < 3 {
		t.Fatalf("500-byte ring holds %d lines of %d bytes", n, b)
	}
	// A batch bound in bytes still returns one line, and never more than asked.
	if lines, _ := r.Since(0, 100, 10); len(lines) != 1 {
		t.Fatalf("a 10-byte batch of 100-byte lines: %d lines", len(lines))
	}
	// A line bigger than the whole ring is kept alone.
	r.add(wire.LogEntry{Level: "INFO", Message: strings.Repeat("y", 800)})
	if n, _ := r.Len(); n != 1 {
		t.Fatalf("after a line bigger than the ring: %d lines", n)
	}
}

type tokenValuer struct{ v string }

func (t tokenValuer) LogValue() slog.Value { return slog.StringValue("tok " + t.v) }

func TestHandlerScrubsSecretsFromStderrAndRing(t *testing.T) {
	const (
		sasl  = "Sasl-P4ssw0rd-from-file"
		claim = "ABCDE-FGHIJ-K"
		enrol = "enr_9f8e7d6c5b4a"
		jwt   = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJndy0xIn0.c2lnbmF0dXJl"
	)
	var stderr bytes.Buffer
	ring := NewRing(0, 0)
	scrub := NewScrubber(sasl, enrol, "ab") // "ab": too short to be taken as a secret
	log := slog.New(NewHandler(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelDebug}), ring, scrub))
	scrub.Add(claim) // learned later, like a claim code at enrollment

	log.Info("connecting with "+sasl, "broker", "kafka://user:"+sasl+"@127.0.0.1:9093")
	log.With("token", enrol).Warn("enrollment refused", "err", errors.New("401 token "+enrol+" unknown"))
	log.WithGroup("http").Debug("request", "authorization", "Bearer "+jwt, "url", "https://op:hunter2-pw@127.0.0.1/x")
	log.Error("claim", "code", claim, "nested", slog.GroupValue(slog.String("pw", sasl)), "v", tokenValuer{claim})
	log.Info("raw token", "t", jwt, "n", 42, "secret", secrets.New("typed-secret"))
	log.Info("about the abacus")

	lines, _ := ring.Since(0, 100, 1<<20)
	if len(lines) != 6 {
		t.Fatalf("ring holds %d lines, want 6", len(lines))
	}
	var ringText strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&ringText, "%s %s %s\n", l.Level, l.Message, l.Attrs)
	}
	for where, text := range map[string]string{"stderr": stderr.String(), "ring": ringText.String()} {
		for _, secret := range []string{sasl, claim, enrol, jwt, "hunter2-pw", "typed-secret", "c2lnbmF0dXJl"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds secret %q:\n%s", where, secret, text)
			}
		}
		for _, kept := range []string{"enrollment refused", "https://op:" + Redacted + "@127.0.0.1/x", "n=42", "about the abacus", "http.authorization"} {
			if where == "stderr" && kept == "http.authorization" {
				continue // the text handler writes groups its own way
			}
			if !strings.Contains(text, kept) {
				t.Errorf("%s lacks %q:\n%s", where, kept, text)
			}
		}
	}
	if lines[1].Level != "WARN" || lines[2].Level != "DEBUG" || lines[3].Level != "ERROR" || !strings.Contains(lines[1].Attrs, "token="+Redacted) {
		t.Errorf("levels or attrs: %+v", lines[:4])
	}
}

func TestHandlerKeepsOnlyEnabledLevelsAndCutsLongLines(t *testing.T) {
	ring := NewRing(0, 0)
	log := slog.New(NewHandler(slog.NewTextHandler(&bytes.Buffer{}, nil), ring, NewScrubber()))
	log.Debug("not shown at info")
	log.Info(strings.Repeat("m", 5000), "a", strings.Repeat("v", 5000))
	lines, _ := ring.Since(0, 10, 1<<20)
	if len(lines) != 1 || len(lines[0].Message) > wire.MaxLogMessage || len(lines[0].Attrs) > wire.MaxLogAttrs {
		t.Fatalf("lines: %d, message %d bytes", len(lines), len(lines[0].Message))
	}
	b := wire.LogBatch{Entries: lines}
	if err := b.Check(); err != nil {
		t.Fatalf("a ring line fails the control plane's check: %v", err)
	}
}

// TestLinesCarryNoControlCharacters: line breaks, terminal escapes and
// bidi overrides in a message or value are escaped in the ring (the
// control plane refuses them, and a reader's screen must not act on them).
func TestLinesCarryNoControlCharacters(t *testing.T) {
	ring := NewRing(0, 0)
	log := slog.New(NewHandler(slog.NewTextHandler(&bytes.Buffer{}, nil), ring, NewScrubber()))
	log.Info("two\nlines \x1b[31mred\u202e", "err", errors.New("a\r\nb\u200bc"))
	lines, _ := ring.Since(0, 10, 1<<20)
	l := lines[0]
	if strings.ContainsFunc(l.Message+l.Attrs, wire.Unprintable) || l.Message != `two\nlines \u001b[31mred\u202e` || !strings.Contains(l.Attrs, `a\r\nb\u200bc`) {
		t.Fatalf("line: %q %q", l.Message, l.Attrs)
	}
}
