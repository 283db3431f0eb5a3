package forward

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/streamforge/streamforge/adapters"
)

// Schema identifiers carried in every record (docs/record-schema.md).
const (
	ReadingSchema = "streamforge.reading/v1"
	EventSchema   = "streamforge.event/v1"
)

// AppendReading appends the v1 JSON form of r to dst.
func AppendReading(dst []byte, r *adapters.Reading) []byte {
	dst = append(dst, `{"schema":"`+ReadingSchema+`",`...)
	dst = appendFields(dst, r)
	return append(dst, '}')
}

// AppendEvent appends the v1 JSON form of a quality transition: the reading
// r whose quality differs from the stream's previous one (prev, or "unknown"
// for the first reading a producer session sees of the stream).
func AppendEvent(dst []byte, r *adapters.Reading, prev string) []byte {
	dst = append(dst, `{"schema":"`+EventSchema+`","event":"quality_change","prev_quality":`...)
	dst = appendString(dst, prev)
	dst = append(dst, ',')
	dst = appendFields(dst, r)
	return append(dst, '}')
}

// markBacklog adds "backlog":true to an encoded record (it ends with '}'):
// the record was set aside while the forwarder was behind and arrives after
// newer live records of its stream (forward.drain_order live_first).
func markBacklog(rec []byte) []byte {
	return append(rec[:len(rec)-1], `,"backlog":true}`...)
}

func appendFields(dst []byte, r *adapters.Reading) []byte {
	dst = append(dst, `"gateway_id":`...)
	dst = appendString(dst, r.GatewayID)
	dst = append(dst, `,"device":`...)
	dst = appendString(dst, r.Device)
	dst = append(dst, `,"tag":`...)
	dst = appendString(dst, r.Tag)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(r.Type))
	dst = append(dst, `,"value":`...)
	dst = appendValue(dst, r.Value)
	dst = append(dst, `,"quality":"`...)
	dst = append(dst, r.Quality.String()...)
	dst = append(dst, `","source_time":"`...)
	dst = r.SourceTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","seq":`...)
	return strconv.AppendUint(dst, r.Seq, 10)
}

// appendValue writes numbers as JSON numbers; NaN and infinities, which JSON
// cannot carry, become the strings "NaN", "+Inf" and "-Inf".
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return append(dst, `"NaN"`...)
		case math.IsInf(x, 1):
			return append(dst, `"+Inf"`...)
		case math.IsInf(x, -1):
			return append(dst, `"-Inf"`...)
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case string:
		return appendString(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case float32:
		return appendValue(dst, float64(x))
	default:
		return append(dst, "null"...)
	}
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
