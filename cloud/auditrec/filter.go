package auditrec

import "time"

// Filter selects records. Empty fields do not filter. From is inclusive,
// To exclusive. Pages run newest first: pass the previous page's
// NextCursor as Cursor to get the older records after it.
type Filter struct {
	User            string
	EventTypePrefix string
	ResourceID      string
	From, To        time.Time
	Limit           int   // the page size
	Cursor          int64 // only records with seq < Cursor; 0 for the newest
}

// Scope is a reader's gateway_access when it does not reach every
// gateway: a record about a gateway (its resource is a gateway, its
// config or a gateway route, with the gateway id as resource_id) is
// visible only when the gateway is in one of Sites now (a deleted gateway
// only when named in Sites), and a record about an enrollment token only
// when its site is. Records that name several gateways in their changes
// (a deploy, a rollout, a connection test) are visible only to User, who
// made them (they name what User asked for). Other records are not about
// gateways.
type Scope struct {
	Sites []string
	User  string
}

// Page is one page of query results. NextCursor is nil on the last page.
type Page struct {
	Records    []Record `json:"records"`
	NextCursor *int64   `json:"next_cursor"`
}
