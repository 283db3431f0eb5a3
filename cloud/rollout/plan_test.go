package rollout

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/streamforge/streamforge/cloud/store"
)

func TestWavesPutTheCanaryFirstThenSizedWaves(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint(i)
		}
		return out
	}
	for _, c := range []struct {
		name         string
		n            int
		canary, wave string
		want         []int
	}{
		{"ok-default-canary-then-rest", 10, "1", "0", []int{1, 9}},
		{"ok-percent-canary-rounds-up", 10, "5%", "50%", []int{1, 5, 4}},
		{"ok-count-waves", 7, "2", "2", []int{2, 2, 2, 1}},
		{"ok-zero-canary-is-one", 3, "0", "1", []int{1, 1, 1}},
		{"ok-canary-is-everything", 3, "100%", "1", []int{3}},
		{"ok-one-gateway", 1, "1", "1", []int{1}},
		{"ok-canary-larger-than-fleet", 2, "5", "1", []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			canary, _ := ParseSize(c.canary)
			wave, _ := ParseSize(c.wave)
			var got []int
			for _, w := range Waves(ids(c.n), canary, wave) {
				got = append(got, len(w))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("waves %v, want %v", got, c.want)
			}
		})
	}
}

func TestSizeRefusesWhatIsNotACountOrPercentage(t *testing.T) {
	for _, in := range []string{`"-1"`, `"0%"`, `"101%"`, `"ten"`, `"NaN%"`, `1.5`, `true`} {
		var s Size
		if err := json.Unmarshal([]byte(in), &s); err != nil || s.Err() == nil {
			t.Errorf("fail-%s: accepted as %+v (%v)", in, s, err)
		}
	}
	var s struct{ A, B Size }
	if err := json.Unmarshal([]byte(`{"A": 3, "B": "12.5%"}`), &s); err != nil || s.A.N != 3 || s.B.Percent != 12.5 || s.A.Err() != nil || s.B.Err() != nil {
		t.Fatalf("ok: %+v %v", s, err)
	}
}

func TestClassifyReadsTheGatewaysReports(t *testing.T) {
	deployed := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	after, before := deployed.Add(time.Second), deployed.Add(-time.Second)
	target := func(applied int, cfgErr string, hb *time.Time) store.TargetStatus {
		return store.TargetStatus{RolloutTarget: store.RolloutTarget{ConfigVersion: 5, DeployedAt: &deployed},
			AppliedConfig: applied, ConfigError: cfgErr, HeartbeatAt: hb}
	}
	for _, c := range []struct {
		name string
		t    store.TargetStatus
		now  time.Time
		want string
	}{
		{"ok-applied", target(5, "", &after), after, store.TargetApplied},
		{"ok-applied-later-version", target(6, "", &after), after, store.TargetApplied},
		{"pending-no-report-yet", target(4, "", &before), after, store.TargetPending},
		{"fail-error-about-this-version", target(4, "config v5 failed to apply: secret not defined", &after), after, store.TargetFailed},
		{"fail-refused-bundle", target(4, "refused: bad signature", &after), after, store.TargetFailed},
		{"pending-error-about-an-older-version", target(4, "config v4 failed to apply: x", &after), after, store.TargetPending},
		{"pending-error-from-before-the-write", target(4, "config v5 failed to apply: x", &before), after, store.TargetPending},
		{"fail-timeout", target(4, "", &after), deployed.Add(time.Minute + time.Second), store.TargetFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := Classify(c.t, c.now, time.Minute); got != c.want {
				t.Fatalf("%s, want %s", got, c.want)
			}
		})
	}
}
