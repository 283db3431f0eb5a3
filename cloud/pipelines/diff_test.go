package pipelines

import (
	"encoding/json"
	"testing"
)

func TestDiffNamesEveryChangedLeaf(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           map[string][2]any
	}{
		{"ok-same", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, map[string][2]any{}},
		{"ok-scalar", `{"kafka":{"linger":"5ms"}}`, `{"kafka":{"linger":"20ms"}}`, map[string][2]any{"kafka.linger": {"5ms", "20ms"}}},
		{"ok-list-item", `{"a":[{"i":"1s"},{"i":"2s"}]}`, `{"a":[{"i":"1s"},{"i":"3s"}]}`, map[string][2]any{"a[1].i": {"2s", "3s"}}},
		{"ok-added-and-removed", `{"x":1}`, `{"y":true}`, map[string][2]any{"x": {1.0, nil}, "y": {nil, true}}},
		{"ok-list-shrinks", `{"a":[1,2]}`, `{"a":[1]}`, map[string][2]any{"a[1]": {2.0, nil}}},
		{"ok-emptied", `{"a":[1]}`, `{"a":[]}`, map[string][2]any{"a[0]": {1.0, nil}, "a": {nil, []any{}}}},
		{"ok-from-nothing", ``, `{"a":{"b":"c"}}`, map[string][2]any{"a.b": {nil, "c"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Diff([]byte(c.old), []byte(c.new))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("changes %+v, want %v", got, c.want)
			}
			for _, ch := range got {
				w, ok := c.want[ch.Path]
				wj, _ := json.Marshal(w)
				gj, _ := json.Marshal([2]any{ch.Old, ch.New})
				if !ok || string(wj) != string(gj) {
					t.Errorf("%s: %s, want %s", ch.Path, gj, wj)
				}
			}
		})
	}
	if _, err := Diff([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("a broken document diffed without an error")
	}
}
