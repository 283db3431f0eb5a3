package modbus

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamforge/streamforge/adapters"
)

func reg(name string, addr uint16, typ adapters.DataType) *Tag {
	return &Tag{Name: name, Register: HoldingRegister, Address: addr, Type: typ}
}

func describe(bs []block) string {
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%s@%d+%d/%d", b.register, b.start, b.count, len(b.tags)))
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	many := make([]*Tag, 130)
	for i := range many {
		many[i] = reg(fmt.Sprint(i), uint16(i), adapters.TypeUint16)
	}
	coils := make([]*Tag, 2001)
	for i := range coils {
		coils[i] = &Tag{Name: fmt.Sprint(i), Register: Coil, Address: uint16(i), Type: adapters.TypeBool}
	}
	cases := []struct {
		name   string
		tags   []*Tag
		maxGap int
		want   string
	}{
		{"ok-contiguous-merge", []*Tag{reg("b", 2, adapters.TypeFloat32), reg("a", 0, adapters.TypeFloat32)}, 0, "holding_register@0+4/2"},
		{"ok-gap-splits", []*Tag{reg("a", 0, adapters.TypeUint16), reg("b", 5, adapters.TypeUint16)}, 0, "holding_register@0+1/1 holding_register@5+1/1"},
		{"ok-gap-allowed", []*Tag{reg("a", 0, adapters.TypeUint16), reg("b", 5, adapters.TypeUint16)}, 4, "holding_register@0+6/2"},
		{"ok-overlap", []*Tag{reg("a", 0, adapters.TypeFloat64), reg("b", 2, adapters.TypeUint16)}, 0, "holding_register@0+4/2"},
		{"ok-125-register-cap", many, 0, "holding_register@0+125/125 holding_register@125+5/5"},
		{"ok-2000-bit-cap", coils, 0, "coil@0+2000/2000 coil@2000+1/1"},
		{"ok-types-never-mix", []*Tag{reg("a", 0, adapters.TypeUint16), {Name: "i", Register: InputRegister, Address: 1, Type: adapters.TypeUint16}},
			0, "holding_register@0+1/1 input_register@1+1/1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := describe(plan(c.tags, maxRegisters, c.maxGap)); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestReportByException(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := &PollGroup{MaxSilence: Duration(10 * time.Second)}
	type step struct {
		v    any
		q    adapters.Quality
		at   time.Duration
		emit bool
	}
	cases := []struct {
		name     string
		deadband float64
		steps    []step
	}{
		{"ok-first-value-emits", 0, []step{{1.0, 0, 0, true}}},
		{"ok-unchanged-is-silent", 0, []step{{1.0, 0, 0, true}, {1.0, 0, time.Second, false}}},
		{"ok-inside-deadband-is-silent", 0.5, []step{{1.0, 0, 0, true}, {1.4, 0, time.Second, false}, {1.6, 0, 2 * time.Second, true}}},
		{"ok-max-silence-emits", 0.5, []step{{1.0, 0, 0, true}, {1.0, 0, 9 * time.Second, false}, {1.0, 0, 10 * time.Second, true}}},
		{"ok-quality-change-emits", 5, []step{{int64(1), 0, 0, true}, {nil, adapters.QualityBad, time.Second, true}, {nil, adapters.QualityBad, 2 * time.Second, false}, {int64(1), 0, 3 * time.Second, true}}},
		{"ok-string-change", 0, []step{{"a", 0, 0, true}, {"a", 0, 1, false}, {"b", 0, 2, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e exception
			for i, s := range c.steps {
				if got := e.changed(s.v, s.q, t0.Add(s.at), c.deadband, g); got != s.emit {
					t.Fatalf("step %d (%v): emit %v, want %v", i, s.v, got, s.emit)
				}
			}
		})
	}
}
