package alarms

import (
	"slices"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

// TestHoldOff walks a condition through time; each row is one evaluation
// with the condition present or not, and what must happen then.
func TestHoldOff(t *testing.T) {
	down := Condition{Kind: DeviceDown, GatewayID: "gw1", Subject: "line1/plc1"}
	type tick struct {
		at      time.Duration
		present bool
		want    string // "raise", "clear" or "" (nothing changes)
	}
	cases := []struct {
		name  string
		ticks []tick
	}{
		{"ok-raised-after-hold-off", []tick{{0, true, ""}, {5 * time.Second, true, ""}, {10 * time.Second, true, "raise"}}},
		{"ok-flapping-raises-nothing", []tick{{0, true, ""}, {6 * time.Second, false, ""}, {8 * time.Second, true, ""},
			{14 * time.Second, false, ""}, {16 * time.Second, true, ""}, {22 * time.Second, true, ""}, {26 * time.Second, true, "raise"}}},
		{"ok-cleared-after-hold-off", []tick{{0, true, ""}, {10 * time.Second, true, "raise"}, {11 * time.Second, false, ""},
			{30 * time.Second, false, ""}, {31 * time.Second, false, "clear"}}},
		{"ok-return-within-clear-hold-off-keeps-alarm", []tick{{0, true, ""}, {10 * time.Second, true, "raise"},
			{11 * time.Second, false, ""}, {25 * time.Second, true, ""}, {32 * time.Second, false, ""}, {45 * time.Second, false, ""},
			{52 * time.Second, false, "clear"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHoldOff(10*time.Second, 20*time.Second)
			var open []store.Alarm
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for _, tk := range tc.ticks {
				var present []Condition
				if tk.present {
					present = []Condition{down}
				}
				p := h.step(t0.Add(tk.at), present, open)
				got := ""
				switch {
				case len(p.raise) == 1 && len(p.clear) == 0:
					got = "raise"
					open = []store.Alarm{{ID: 1, Key: down.Key()}}
				case len(p.clear) == 1 && len(p.raise) == 0:
					got = "clear"
					open = nil
				case len(p.raise)+len(p.clear) > 0:
					t.Fatalf("at %s: raise %v clear %v", tk.at, p.raise, p.clear)
				}
				if got != tk.want {
					t.Fatalf("at %s (present %v): got %q, want %q", tk.at, tk.present, got, tk.want)
				}
				if _, kept := p.keep[1]; kept != (tk.present && len(open) == 1 && got == "") {
					t.Fatalf("at %s: keep %v", tk.at, p.keep)
				}
			}
		})
	}
}

// TestHoldOffImmediateAndIndependentKeys: counts over a window skip the
// raise hold-off; two devices keep separate clocks.
func TestHoldOffImmediateAndIndependentKeys(t *testing.T) {
	h := newHoldOff(10*time.Second, 10*time.Second)
	t0 := time.Now()
	flood := Condition{Kind: LoginFailuresIP, Subject: "ip:192.0.2.1", Immediate: true}
	a := Condition{Kind: DeviceDown, GatewayID: "gw1", Subject: "a"}
	b := Condition{Kind: DeviceDown, GatewayID: "gw1", Subject: "b"}
	if p := h.step(t0, []Condition{flood, a}, nil); len(p.raise) != 1 || p.raise[0].Key() != flood.Key() {
		t.Fatalf("immediate condition not raised at once: %+v", p.raise)
	}
	h.step(t0.Add(5*time.Second), []Condition{a, b}, []store.Alarm{{ID: 1, Key: flood.Key()}})
	p := h.step(t0.Add(10*time.Second), []Condition{a, b}, []store.Alarm{{ID: 1, Key: flood.Key()}})
	keys := []string{}
	for _, c := range p.raise {
		keys = append(keys, c.Key())
	}
	if !slices.Equal(keys, []string{a.Key()}) {
		t.Fatalf("raised %v at 10 s, want only %s (b began 5 s later)", keys, a.Key())
	}
}
