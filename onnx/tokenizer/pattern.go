package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// A pattern finds the delimiters of Split and Replace.
type pattern interface {
	// findAll appends the byte ranges of the leftmost, non-overlapping
	// matches in s to dst.
	findAll(s string, dst [][2]int) [][2]int
}

// parsePattern reads {"String": s} or {"Regex": r}.
func parsePattern(raw json.RawMessage) (pattern, error) {
	var p struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	switch {
	case p.String != nil:
		if *p.String == "" {
			return nil, errors.New("empty String pattern")
		}
		return literal(*p.String), nil
	case p.Regex != nil:
		return compileRegex(*p.Regex)
	}
	return nil, errors.New(`want {"String": …} or {"Regex": …}`)
}

type literal string

func (l literal) findAll(s string, dst [][2]int) [][2]int {
	for off := 0; ; {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + i, off + i + len(l)})
		off += i + len(l)
	}
}

// compileRegex returns an exact scanner for the well-known GPT-2, Llama-3
// and Qwen split patterns and a backtracking engine (Oniguruma-like
// syntax and semantics: look-around, \p classes, Unicode \s \w \d) for
// any other pattern.
func compileRegex(expr string) (pattern, error) {
	if s, ok := knownScanners[expr]; ok {
		return s, nil
	}
	return compileEngine(expr)
}

// engine is a regexp2 program. Matching is linear for the patterns
// tokenizers use; a per-call timeout bounds pathological ones.
type engine struct {
	re *regexp2.Regexp
	// fast is the same pattern in RE2 syntax when it means the same there
	// (no Unicode-sensitive classes, no look-around); it is preferred.
	fast *regexp.Regexp
}

func compileEngine(expr string) (*engine, error) {
	re, err := regexp2.Compile(expr, regexp2.Unicode)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	re.MatchTimeout = 5 * time.Second
	e := &engine{re: re}
	if !strings.Contains(expr, `\`) && !strings.Contains(expr, "(?") {
		// No escapes or group flags that could mean something else in RE2.
		if f, err := regexp.Compile(expr); err == nil {
			e.fast = f
		}
	}
	return e, nil
}

func (e *engine) findAll(s string, dst [][2]int) [][2]int {
	if e.fast != nil {
		for _, m := range e.fast.FindAllStringIndex(s, -1) {
			dst = append(dst, [2]int{m[0], m[1]})
		}
		return dst
	}
	// regexp2 reports rune indices; convert them to byte offsets.
	runeAt := make([]int, 0, len(s)+1)
	for i := range s {
		runeAt = append(runeAt, i)
	}
	runeAt = append(runeAt, len(s))
	m, err := e.re.FindRunesMatch([]rune(s))
	for err == nil && m != nil {
		start, end := m.Index, m.Index+m.Length
		if start < len(runeAt) && end < len(runeAt) {
			dst = append(dst, [2]int{runeAt[start], runeAt[end]})
		}
		m, err = e.re.FindNextMatch(m)
	}
	return dst
}
