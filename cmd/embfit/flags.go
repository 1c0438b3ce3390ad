package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
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

// flagError reports err, a library error about a setting, as an error of
// flag: the setting's name gives way to the flag's.
func flagError(flag string, err error) error {
	if e, ok := inputerr.As(err); ok && e.Setting != "" && e.File == "" {
		return fmt.Errorf("%s: %w", flag, e.Err)
	}
	return fmt.Errorf("%s: %w", flag, err)
}
