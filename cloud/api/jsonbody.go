package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/streamforge/streamforge/cloud/errs"
)

// decodeJSON is the one JSON decoder of every request body on both
// listeners. Beyond encoding/json it refuses:
//   - a key given twice in one object, also when the two differ only in
//     case: encoding/json would keep the last, matched case-insensitively,
//     so {"roles":["Viewer"],"ROLES":["Admin"]} would validate one value
//     and store another;
//   - control and format characters (Unicode Cc, Cf, line and paragraph
//     separators: NUL, bidi overrides such as U+202E, zero-width marks) in
//     any key or string; tab and line breaks only in the few fields that
//     hold multi-line text (multiLine);
//   - unknown fields and trailing data.
//
// Messages name the field, never echo the input.
func decodeJSON(body []byte, v any) error {
	if err := checkJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.New(errs.Validation, "invalid JSON body: "+jsonProblem(err))
	}
	if dec.More() {
		return errs.New(errs.Validation, "invalid JSON body: trailing data")
	}
	return nil
}

// multiLine names the fields whose strings may hold tabs and line breaks:
// PEM text, error texts, and anything inside a gateway config document.
var multiLine = map[string]bool{"public_key": true, "last_error": true, "config": true, "spec": true, "spec_yaml": true}

type jsonFrame struct {
	object   bool
	keys     map[string]bool
	key      string // the member whose value comes next (objects)
	name     string // this value's own field name
	lenient  bool   // inside a multiLine field
	afterKey bool
}

// checkJSON walks body's tokens for the rules decodeJSON adds.
func checkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*jsonFrame
	// field is the name under which the next value sits, for messages.
	field := func() (string, bool) {
		if len(stack) == 0 {
			return "body", false
		}
		top := stack[len(stack)-1]
		if top.object {
			return top.key, top.lenient || multiLine[top.key]
		}
		return top.name, top.lenient
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errs.New(errs.Validation, "invalid JSON body: "+jsonProblem(err))
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && !top.afterKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key := tok.(string)
			if bad := badRune(key, false); bad != "" {
				return errs.Invalid("body", "a field name contains "+bad)
			}
			folded := strings.ToLower(key)
			if top.keys[folded] {
				return errs.Invalid(fieldPath(stack, key), "given more than once (field names are matched without regard to case)")
			}
			if len(top.keys) >= maxJSONKeys {
				return errs.Invalid(fieldPath(stack, ""), "too many fields")
			}
			top.keys[folded] = true
			top.key, top.afterKey = key, true
			continue
		}
		name, lenient := field()
		if top != nil && top.object {
			top.afterKey = false
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return errs.Invalid("body", "nested too deeply")
				}
				stack = append(stack, &jsonFrame{object: t == '{', keys: map[string]bool{}, name: name, lenient: lenient})
			default: // ']'
				stack = stack[:len(stack)-1]
			}
		case string:
			if bad := badRune(t, lenient); bad != "" {
				last := ""
				if top != nil && top.object {
					last = name
				}
				return errs.Invalid(fieldPath(stack, last), "contains "+bad+"; control and format characters are not allowed")
			}
		}
	}
}

// Bounds on a body's shape: no API body comes near them, and the walk
// keeps one frame per level and one entry per key.
const (
	maxJSONDepth = 32
	maxJSONKeys  = 1000
)

// fieldPath is the dotted path of a field (last "" for the innermost
// container itself), for messages. Names come from the body, so they are
// cut: a message never echoes much of the input.
func fieldPath(stack []*jsonFrame, last string) string {
	var parts []string
	for i, f := range stack {
		if i > 0 && f.name != "" && (len(parts) == 0 || parts[len(parts)-1] != f.name) {
			parts = append(parts, f.name)
		}
	}
	if last != "" {
		parts = append(parts, last)
	}
	if len(parts) == 0 {
		return "body"
	}
	p := strings.Join(parts, ".")
	if len(p) > 80 {
		p = p[:80] + "..."
	}
	return p
}

// badRune describes the first character of s that text may not hold, or
// "" if there is none. lenient allows tab, CR and LF.
func badRune(s string, lenient bool) string {
	for _, r := range s {
		if lenient && (r == '\t' || r == '\n' || r == '\r') {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return fmt.Sprintf("the character U+%04X", r)
		}
	}
	return ""
}

// refuseContentEncoding answers 415 to a request whose body claims a
// Content-Encoding other than identity. Fiber's Ctx.Body decompresses
// gzip, deflate and brotli bodies (up to three layers) with no bound, so
// the body limit would count only the compressed bytes: a 291 kB gzip of
// spaces sent to the public login route took the process to 1.5 GiB, and
// stacked layers reach any size. No client of ours compresses a request.
func refuseContentEncoding(c *fiber.Ctx) error {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for _, enc := range strings.Split(string(v), ",") {
			if e := strings.TrimSpace(enc); e != "" && !strings.EqualFold(e, "identity") {
				return errorf(fiber.StatusUnsupportedMediaType, "request bodies must not be compressed (Content-Encoding)")
			}
		}
	}
	return c.Next()
}

// refuseControlChars answers 400 to a request whose path or query holds a
// control or format character (after percent-decoding): ids and names in
// URLs follow the rule of JSON bodies.
func refuseControlChars(c *fiber.Ctx) error {
	if bad := badRune(string(c.Request().URI().Path()), false); bad != "" {
		return errs.Invalid("path", "contains "+bad+"; control and format characters are not allowed")
	}
	bad := false
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		bad = bad || badRune(string(k), false) != "" || badRune(string(v), false) != ""
	})
	if bad {
		return errs.Invalid("query", "contains a control or format character; they are not allowed")
	}
	return c.Next()
}
