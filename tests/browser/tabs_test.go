package browser

import (
	"strings"
	"testing"

	"github.com/streamforge/streamforge/internal/testenv"
)

// TestSecondTabWorksAfterTheFirstRefreshes: two tabs of one browser share
// the session cookie; after one refreshes the session (new token, new
// CSRF token), an action in the other (creating an enrollment token) still
// works: the dashboard adopts the cookie's session on a CSRF refusal and
// sends the request once more. It showed "missing or invalid CSRF token".
func TestSecondTabWorksAfterTheFirstRefreshes(t *testing.T) {
	dir := requireBrowser(t)
	cloud := testenv.StartCloud(t)
	out := journey(t, dir, []string{"MODE=tabs", "BASE=" + cloud.URL, "EMAIL=" + testenv.CloudAdminEmail,
		"PASSWORD=" + testenv.CloudAdminPassword}, nil)
	if !strings.Contains(out, "SECOND-TAB token created") || !strings.Contains(out, "OK tabs") {
		t.Fatalf("tabs journey:\n%s", out)
	}
}
