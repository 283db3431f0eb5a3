package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/streamforge/streamforge/internal/kafkatest"
	"github.com/streamforge/streamforge/internal/testenv"
)

const (
	arm64CC   = "aarch64-linux-gnu-gcc"
	muslSpecs = "/usr/lib/aarch64-linux-musl/musl-gcc.specs"
)

// The agent cross-compiled for linux/arm64 (glibc, and static musl) runs
// under qemu-user against the simulator and a broker on this machine, and
// its readings arrive in Kafka in order.
func TestArm64AgentUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the agent (about a minute cold)")
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		testenv.Missing(t, "qemu-aarch64-static (qemu-user-static)")
	}
	if _, err := exec.LookPath(arm64CC); err != nil {
		testenv.Missing(t, "%s (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)", arm64CC)
	}
	arm64 := []string{"GOOS=linux", "GOARCH=arm64"}
	tests := []struct {
		name string
		env  []string
		args []string
		run  func(bin string) []string
	}{
		{"glibc", append(arm64, "CC="+arm64CC), nil,
			func(bin string) []string { return []string{qemu, "-L", "/usr/aarch64-linux-gnu", bin} }},
		{"musl-static", append(arm64, "CC="+arm64CC+" -specs "+muslSpecs),
			[]string{"-tags", "musl", "-ldflags", "-linkmode external -extldflags -static"},
			func(bin string) []string { return []string{qemu, bin} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "musl-static" {
				if _, err := os.Stat(muslSpecs); err != nil {
					testenv.Missing(t, "%s (dpkg --add-architecture arm64; apt-get install musl-dev:arm64)", muslSpecs)
				}
			}
			const tags = 10
			mb := startSim(t, tags, 20)
			broker := testenv.StartKfake(t, testenv.KafkaOpts{})
			dir := t.TempDir()
			bin := testenv.BuildAgent(t, tc.env, tc.args...)
			if out, err := exec.Command("file", bin).Output(); err == nil {
				t.Logf("%s", out)
			}
			cfg := writeConfig(t, dir, broker.Addr, mb.Addr(), tags, 50*time.Millisecond, defaultBuffer, "")
			a := startAgent(t, cfg, tc.run(bin)...)
			a.WaitMetric(t, "streamforge_forward_acked_records_total", 60*time.Second, func(v float64) bool { return v >= 500 })
			a.Stop(t)
			recs, err := kafkatest.Read(context.Background(), kafkatest.Conn{Brokers: broker.Addr}, "telemetry.raw",
				30*time.Second, func(r []kafkatest.Record) bool { return len(r) >= 500 })
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]uint64{}
			for _, r := range recs {
				want[r.Key] = max(want[r.Key], r.Body.Seq)
			}
			rep, err := kafkatest.Check(recs, want, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Streams != tags {
				t.Errorf("%d streams, want %d", rep.Streams, tags)
			}
			t.Logf("arm64 %s agent: %d readings from %d streams in Kafka", tc.name, rep.Unique, rep.Streams)
		})
	}
}
