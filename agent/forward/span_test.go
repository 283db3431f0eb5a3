package forward

import (
	"slices"
	"testing"
)

// kept lists the IDs up to 100 a backlog would send, in order.
func kept(backlog []span) []uint64 {
	var out []uint64
	for _, sp := range backlog {
		for id := sp.after + 1; id <= sp.until && id <= 100; id++ {
			if sp.keeps(id) {
				out = append(out, id)
			}
		}
	}
	return out
}

func TestMergePurgedKeepsTheBacklogInIDOrder(t *testing.T) {
	cases := []struct {
		name    string
		backlog []span
		purged  []uint64
		want    []uint64
	}{
		{"ok-purged-only", nil, []uint64{7, 5, 6}, []uint64{5, 6, 7}},
		{"ok-purged-after-a-span", []span{{after: 1, until: 3}}, []uint64{9, 10}, []uint64{2, 3, 9, 10}},
		{"ok-purged-behind-a-span-position", []span{{after: 4, until: 6}}, []uint64{3, 4, 20}, []uint64{3, 4, 5, 6, 20}},
		{"ok-drained-span-dropped", []span{{after: 6, until: 6}}, []uint64{2}, []uint64{2}},
		{"ok-merge-of-a-merge", mergePurged([]span{{after: 10, until: 12}}, []uint64{30}), []uint64{5},
			[]uint64{5, 11, 12, 30}},
		{"ok-merged-span-position-respected", []span{{after: 11, until: 30, ids: map[uint64]struct{}{5: {}, 30: {}},
			ranges: [][2]uint64{{10, 12}}}}, []uint64{1}, []uint64{1, 12, 30}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kept(mergePurged(c.backlog, c.purged)); !slices.Equal(got, c.want) {
				t.Errorf("backlog sends %v, want %v", got, c.want)
			}
		})
	}
}
