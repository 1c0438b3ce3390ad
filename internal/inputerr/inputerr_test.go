package inputerr

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestErrorString(t *testing.T) {
	for _, c := range []struct {
		err  *Error
		want string
	}{
		{FileError("a.jsonl", 3, io.ErrUnexpectedEOF), "a.jsonl:3: unexpected EOF"},
		{FileError("a.jsonl", 0, io.ErrUnexpectedEOF), "a.jsonl: unexpected EOF"},
		{Fieldf("t.json", 0, "model.vocab", "id %d is negative", -5), "t.json: model.vocab: id -5 is negative"},
		{Settingf("batch_size", "must be at least 1, got %d", 0), "batch_size: must be at least 1, got 0"},
		{&Error{}, "invalid input"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestAs(t *testing.T) {
	base := Settingf("epochs", "must be positive")
	wrapped := fmt.Errorf("train: %w", base)
	e, ok := As(wrapped)
	if !ok || e != base || e.Setting != "epochs" {
		t.Fatalf("As(%v) = %v, %v", wrapped, e, ok)
	}
	if !errors.Is(FileError("x", 1, io.EOF), io.EOF) {
		t.Fatal("Unwrap does not reach the cause")
	}
	if _, ok := As(io.EOF); ok {
		t.Fatal("As matched a plain error")
	}
}
