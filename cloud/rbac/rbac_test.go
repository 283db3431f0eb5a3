package rbac

import (
	"slices"
	"testing"
)

// specMatrix is the spec's role table, typed in again from the document so
// that a change to the code's table cannot silently change the product.
// The spec has no secrets row; #12 adds one: Engineers, who write the
// pipelines that reference secrets, may read their names (secrets:read);
// setting a value is Admin's (secrets:manage), as it changes the
// credentials gateways present, like a deploy; Copilot gets neither.
var specMatrix = map[string][]string{
	Viewer:   {"dashboards:read", "configs:read", "pipelines:read", "gateways:read"},
	Operator: {"dashboards:read", "configs:read", "pipelines:read", "gateways:read", "alarms:ack", "logs:read"},
	Engineer: {"dashboards:read", "configs:read", "pipelines:read", "gateways:read", "alarms:ack", "logs:read",
		"pipelines:create", "pipelines:update", "pipelines:test", "gateways:claim", "secrets:read"},
	Admin: {"dashboards:read", "configs:read", "pipelines:read", "gateways:read", "alarms:ack", "logs:read",
		"pipelines:create", "pipelines:update", "pipelines:test", "gateways:claim", "pipelines:delete", "configs:deploy",
		"gateways:manage", "users:manage", "audit:read", "secrets:read", "secrets:manage"},
	Copilot: {"dashboards:read", "configs:read", "pipelines:read", "gateways:read", "suggestions:create"},
}

func TestRoleMatrixMatchesSpec(t *testing.T) {
	for _, role := range Roles() {
		got, want := RolePermissions(role), slices.Clone(specMatrix[role])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", role, got, want)
		}
	}
}

func TestCopilotCannotChangeAnything(t *testing.T) {
	for _, p := range RolePermissions(Copilot) {
		if p != SuggestionsCreate && !slices.Contains(RolePermissions(Viewer), p) {
			t.Errorf("Copilot has %s", p)
		}
	}
}

func TestPermissionsUnion(t *testing.T) {
	got := Permissions([]string{Viewer, Copilot, "Bogus"})
	want := []string{"configs:read", "dashboards:read", "gateways:read", "pipelines:read", "suggestions:create"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCanAccessGateway(t *testing.T) {
	cases := []struct {
		name   string
		access []string
		gw     string
		site   string
		want   bool
	}{
		{"ok-wildcard", []string{"*"}, "gw-1", "", true},
		{"ok-id", []string{"gw-2", "gw-1"}, "gw-1", "", true},
		{"ok-site", []string{"Offshore Rig Alpha"}, "gw-1", "Offshore Rig Alpha", true},
		{"fail-other-id", []string{"gw-2"}, "gw-1", "Plant", false},
		{"fail-empty", nil, "gw-1", "Plant", false},
		{"fail-empty-site-does-not-match-empty", []string{""}, "gw-1", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CanAccessGateway(c.access, c.gw, c.site); got != c.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

// TestGrants: a confined actor grants only entries of its own, or its own
// gateways, and not a gateway of its own whose id is also a site's name
// (the entry would match that site's gateways too).
func TestGrants(t *testing.T) {
	sites := map[string]string{"gw-n1": "North", "South": "North", "gw-s1": "South"}
	siteOf := func(id string) string { return sites[id] }
	isSite := func(name string) bool { return name == "North" || name == "South" }
	for _, c := range []struct {
		name              string
		access, requested []string
		want              bool
	}{
		{"ok-unrestricted", []string{"*"}, []string{"South"}, true},
		{"ok-own-entry", []string{"North"}, []string{"North"}, true},
		{"ok-own-gateway", []string{"North"}, []string{"gw-n1"}, true},
		{"fail-other-sites-gateway", []string{"North"}, []string{"gw-s1"}, false},
		{"fail-own-gateway-named-like-a-site", []string{"North"}, []string{"South"}, false},
		{"fail-other-site", []string{"gw-n1"}, []string{"North"}, false},
		{"fail-unknown", []string{"North"}, []string{"nowhere"}, false},
		{"fail-everything", []string{"North"}, []string{"*"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Grants(c.access, c.requested, siteOf, isSite); got != c.want {
				t.Fatalf("Grants(%v, %v) = %v, want %v", c.access, c.requested, got, c.want)
			}
		})
	}
}
