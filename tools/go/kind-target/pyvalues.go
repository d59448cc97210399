package main

// Python-compatible values and texts, so answers and error messages read as target.py's do:
// floats as repr() writes them (129.0, 1e-05), JSON numbers kept as Python's json module keeps
// them (integers exact, of any size), str() and repr() of decoded JSON, int() and
// date.fromisoformat() with their error messages.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// valueError is what target.py raises as ValueError inside a route: the middleware answers 422.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

func valueErrorf(format string, args ...any) error { return &valueError{fmt.Sprintf(format, args...)} }

// typeError is a Python TypeError inside a route: aiohttp answers 500.
type typeError struct{ msg string }

func (e *typeError) Error() string { return e.msg }

// pyFloat marshals as Python's repr(float) does.
type pyFloat float64

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-4 && a < 1e16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	return strconv.FormatFloat(f, 'e', -1, 64) // 1e+16, 1.5e-05: Python's spelling too
}

func (f pyFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil // not JSON; cannot arise from JSON input
	}
	return []byte(formatFloat(float64(f))), nil
}

// round2 is Python's round(x, 2): correctly rounded from the float's exact value.
func round2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	if err != nil {
		return x
	}
	return r
}

// pyNum is a JSON number as Python's json module reads it: an int (exact) or a float.
type pyNum struct {
	isInt bool
	i     *big.Int
	f     float64
}

func numberOf(n json.Number) pyNum {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, ok := new(big.Int).SetString(s, 10); ok {
			return pyNum{isInt: true, i: i}
		}
	}
	f, _ := strconv.ParseFloat(s, 64) // out of range: ±Inf, as Python's float()
	return pyNum{f: f}
}

func intNum(i int64) pyNum { return pyNum{isInt: true, i: big.NewInt(i)} }

func (n pyNum) String() string {
	if n.isInt {
		return n.i.String()
	}
	return formatFloat(n.f)
}

func (n pyNum) MarshalJSON() ([]byte, error) {
	if n.isInt {
		return []byte(n.i.String()), nil
	}
	return pyFloat(n.f).MarshalJSON()
}

func (n pyNum) float() float64 {
	if n.isInt {
		f, _ := new(big.Float).SetInt(n.i).Float64()
		return f
	}
	return n.f
}

func (n pyNum) zero() bool {
	if n.isInt {
		return n.i.Sign() == 0
	}
	return n.f == 0
}

// decodeJSON reads one JSON document as Python's json.loads does (numbers as pyNum).
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("extra data after the JSON document")
	}
	return normalise(v), nil
}

func normalise(v any) any {
	switch x := v.(type) {
	case json.Number:
		return numberOf(x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalise(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalise(e)
		}
	}
	return v
}

// truthy is Python's bool() of a decoded JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case pyNum:
		return !x.zero()
	case pyFloat:
		return x != 0
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	return true
}

// pyStr is Python's str() of a decoded JSON value.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case pyNum:
		return x.String()
	case pyFloat:
		return formatFloat(float64(x))
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyReprValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Python keeps the document's order; Go's decoder does not
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyReprValue(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func pyReprValue(v any) string {
	if s, ok := v.(string); ok {
		return pyRepr(s)
	}
	return pyStr(v)
}

// pyRepr is Python's repr() of a str.
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i, w := 0, 0; i < len(s); i += w {
		r, width := utf8.DecodeRuneInString(s[i:])
		w = width
		switch {
		case r == utf8.RuneError && width == 1:
			fmt.Fprintf(&b, "\\udc%02x", s[i]) // surrogateescape, as Python decodes bad bytes
		case r == '\\' || r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, "\\x%02x", r)
		case r <= 0xffff:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			fmt.Fprintf(&b, "\\U%08x", r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// pyListRepr is repr() of a list of str.
func pyListRepr(items []string) string {
	parts := make([]string, len(items))
	for i, s := range items {
		parts[i] = pyRepr(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// parseInt is Python's int(str): surrounding whitespace, a sign, digits with single underscores.
func parseInt(s string) (*big.Int, error) {
	bad := valueErrorf("invalid literal for int() with base 10: %s", pyRepr(s))
	t := strings.TrimSpace(s)
	sign := ""
	if t != "" && (t[0] == '+' || t[0] == '-') {
		sign, t = t[:1], t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return nil, bad
	}
	digits := strings.ReplaceAll(t, "_", "")
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, bad
		}
	}
	n, ok := new(big.Int).SetString(sign+digits, 10)
	if !ok {
		return nil, bad
	}
	return n, nil
}

// toInt is Python's int() of a decoded JSON value.
func toInt(v any) (*big.Int, error) {
	switch x := v.(type) {
	case string:
		return parseInt(x)
	case bool:
		if x {
			return big.NewInt(1), nil
		}
		return big.NewInt(0), nil
	case pyNum:
		if x.isInt {
			return x.i, nil
		}
		if math.IsInf(x.f, 0) || math.IsNaN(x.f) {
			return nil, &typeError{"cannot convert float to integer"}
		}
		i, _ := big.NewFloat(math.Trunc(x.f)).Int(nil)
		return i, nil
	}
	return nil, &typeError{fmt.Sprintf("int() argument must be a string or a number, not %T", v)}
}

func clampInt(n *big.Int, lo, hi int64) int64 {
	switch {
	case n.Cmp(big.NewInt(lo)) < 0:
		return lo
	case n.Cmp(big.NewInt(hi)) > 0:
		return hi
	}
	return n.Int64()
}

func mod(n *big.Int, m int64) int64 {
	return new(big.Int).Mod(n, big.NewInt(m)).Int64() // Python's %: never negative for m > 0
}

// date is a calendar day (dt.date).
type date struct{ t time.Time }

func (d date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.t.Year(), d.t.Month(), d.t.Day())
}

// ordinal is date.toordinal(): 0001-01-01 is 1.
func (d date) ordinal() int64 { return d.t.Unix()/86400 + 719163 }

// weekday is date.weekday(): Monday 0 .. Sunday 6.
func (d date) weekday() int { return (int(d.t.Weekday()) + 6) % 7 }

func (d date) daysUntil(o date) int64 { return o.ordinal() - d.ordinal() }

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoiDigits(s string) int { n, _ := strconv.Atoi(s); return n }

// fromISOFormat is Python 3.11's date.fromisoformat: YYYY-MM-DD, YYYYMMDD and the ISO week
// forms YYYY-Www[-D] and YYYYWww[D].
func fromISOFormat(s string) (date, bool) {
	if len(s) < 7 || !digitsOnly(s[:4]) {
		return date{}, false
	}
	year := atoiDigits(s[:4])
	rest := s[4:]
	dash := rest[0] == '-'
	if dash {
		rest = rest[1:]
	}
	if rest != "" && rest[0] == 'W' {
		rest = rest[1:]
		var week, day string
		switch {
		case len(rest) == 2:
			week, day = rest, "1"
		case dash && len(rest) == 4 && rest[2] == '-':
			week, day = rest[:2], rest[3:]
		case !dash && len(rest) == 3:
			week, day = rest[:2], rest[2:]
		default:
			return date{}, false
		}
		if !digitsOnly(week) || !digitsOnly(day) {
			return date{}, false
		}
		return isoWeekDate(year, atoiDigits(week), atoiDigits(day))
	}
	var month, day string
	switch {
	case dash && len(rest) == 5 && rest[2] == '-':
		month, day = rest[:2], rest[3:]
	case !dash && len(rest) == 4:
		month, day = rest[:2], rest[2:]
	default:
		return date{}, false
	}
	if !digitsOnly(month) || !digitsOnly(day) {
		return date{}, false
	}
	return calendarDate(year, atoiDigits(month), atoiDigits(day))
}

func calendarDate(y, m, d int) (date, bool) {
	if y < 1 || m < 1 || m > 12 || d < 1 {
		return date{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // normalised past the month's end
		return date{}, false
	}
	return date{t}, true
}

func isoWeekDate(y, week, day int) (date, bool) {
	if y < 1 || week < 1 || week > 53 || day < 1 || day > 7 {
		return date{}, false
	}
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC)
	if week == 53 { // only years whose Jan 1 is a Thursday, or a Wednesday in a leap year
		jan1 := (int(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Weekday()) + 6) % 7
		leap := time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC).YearDay() == 366
		if jan1 != 3 && (jan1 != 2 || !leap) {
			return date{}, false
		}
	}
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	t := monday.AddDate(0, 0, (week-1)*7+day-1)
	if t.Year() < 1 || t.Year() > 9999 {
		return date{}, false
	}
	return date{t}, true
}
