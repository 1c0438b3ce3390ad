package main

import (
	"os"
	"path/filepath"
	"strings"
)

// specList is a repeatable string flag that, unlike cli.StringSliceFlag,
// does not split values on commas (loss specs contain commas).
type specList []string

func (s *specList) Set(v string) error { *s = append(*s, v); return nil }
func (s *specList) String() string     { return strings.Join(*s, " ") }

// samePath reports whether a and b name the same existing file (or the
// same path when a does not exist yet).
func samePath(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	bb, _ := filepath.Abs(b)
	return aa == bb
}
