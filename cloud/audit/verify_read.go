package audit

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamforge/streamforge/cloud/auditrec"
)

// BadColumn: a column of the record does not hold a well-formed value (a
// NULL where a value belongs, a timestamp that is not a time, changes that
// are not JSON): the record was edited below the application.
const BadColumn = "malformed_column"

// malformed names the first column of a raw row that cannot be what
// Append wrote.
type malformed struct{ column, problem string }

// parse converts a raw row, or names its first malformed column (r.Seq is
// usable unless that column is seq).
func parse(raw *auditrec.Raw) (r auditrec.Row, bad *malformed) {
	var ok bool
	if r.Seq, ok = asInt(raw[0]); !ok {
		return r, &malformed{"seq", fmt.Sprintf("is %s, not an integer", describe(raw[0]))}
	}
	if r.Timestamp, ok = asTime(raw[1]); !ok {
		return r, &malformed{"timestamp", fmt.Sprintf("is %s, not a time", describe(raw[1]))}
	}
	texts := []struct {
		name string
		dst  *string
		v    any
	}{
		{"event_type", &r.EventType, raw[2]}, {"user_email", &r.UserEmail, raw[3]}, {"ip_address", &r.IPAddress, raw[4]},
		{"user_agent", &r.UserAgent, raw[5]}, {"resource", &r.Resource, raw[6]}, {"resource_id", &r.ResourceID, raw[7]},
		{"action", &r.Action, raw[8]}, {"changes", &r.Changes, raw[9]}, {"result", &r.Result, raw[11]},
		{"reason", &r.Reason, raw[12]}, {"prev_hash", &r.PrevHash, raw[13]}, {"hash", &r.Hash, raw[14]},
	}
	for _, f := range texts {
		if *f.dst, ok = asText(f.v); !ok {
			return r, &malformed{f.name, fmt.Sprintf("is %s, not text", describe(f.v))}
		}
	}
	if raw[10] != nil {
		a, ok := asText(raw[10])
		if !ok {
			return r, &malformed{"approved_by", fmt.Sprintf("is %s, not text", describe(raw[10]))}
		}
		r.ApprovedBy = &a
	}
	if _, err := auditrec.DecodeChanges(r.Changes); err != nil {
		return r, &malformed{"changes", "is not a JSON object of changes"}
	}
	return r, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func asText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// timeLayouts are the text forms a stored timestamp takes: the SQLite
// driver's, PostgreSQL's timestamptz as text, and RFC 3339.
var timeLayouts = []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07", time.RFC3339Nano}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case []byte:
		return asTime(string(x))
	case string:
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, strings.TrimSpace(x)); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// describe says what a malformed value is without echoing much of it.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return strconv.Quote(truncateText(x, 40))
	case []byte:
		return strconv.Quote(truncateText(string(x), 40))
	}
	return fmt.Sprintf("a %T", v)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// readHeadLoose reads the chain head, reporting a malformed one.
func readHeadLoose(db ChainReader) (Checkpoint, *malformed, error) {
	seq, hash, err := db.Head()
	if err != nil {
		return Checkpoint{}, nil, err
	}
	n, ok := asInt(seq.String)
	switch {
	case !seq.Valid || !ok:
		return Checkpoint{}, &malformed{"seq", "is " + describeNull(seq) + ", not an integer"}, nil
	case !hash.Valid:
		return Checkpoint{Seq: n}, &malformed{"hash", "is NULL"}, nil
	}
	return Checkpoint{Seq: n, Hash: strings.TrimSpace(hash.String)}, nil, nil
}

func describeNull(s sql.NullString) string {
	if !s.Valid {
		return "NULL"
	}
	return describe(s.String)
}
