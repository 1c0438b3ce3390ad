// Package inputerr defines the one error type for a user's bad input: it
// carries where the input came from (a file and line, or the name of a
// library setting) so that a command can print one line naming it and map a
// setting to its own vocabulary (a flag), while the library never speaks of
// flags. Callers find it with errors.As; pipeline/dataio re-exports it as
// dataio.InputError for users of the library.
package inputerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a user's bad input. Exactly one of File or Setting is normally
// set. Error() renders "FILE:LINE: FIELD: ERR", "FILE: ERR" or
// "SETTING: ERR", leaving out the parts that are empty.
type Error struct {
	// File is the input's path as the user gave it ("-" for standard input);
	// empty when the input is not a file.
	File string
	// Line is the 1-based line in File; 0 when the error is not about a line.
	Line int
	// Field names the JSON field, column or key inside the file or setting
	// (e.g. "positive", "model.vocab"); empty when not applicable.
	Field string
	// Setting names the library setting at fault, in snake_case as it
	// appears in config.json and manifests (e.g. "batch_size", "model",
	// "loss"); empty when the error is about a file's contents.
	Setting string
	// Err says what is wrong.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Setting != "":
		fmt.Fprintf(&b, "%s: ", e.Setting)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "%s: ", e.Field)
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid input")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// FileError returns an error about file path at line (0: the whole file).
func FileError(path string, line int, err error) *Error {
	return &Error{File: path, Line: line, Err: err}
}

// Fieldf returns an error about field of file path at line, formatted.
func Fieldf(path string, line int, field, format string, args ...any) *Error {
	return &Error{File: path, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}

// Settingf returns an error about the named setting, formatted.
func Settingf(setting, format string, args ...any) *Error {
	return &Error{Setting: setting, Err: fmt.Errorf(format, args...)}
}

// SettingError wraps err as an error about the named setting.
func SettingError(setting string, err error) *Error {
	return &Error{Setting: setting, Err: err}
}

// As reports whether err is or wraps an *Error, and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
