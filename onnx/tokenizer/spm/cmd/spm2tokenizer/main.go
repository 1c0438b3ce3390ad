// Command spm2tokenizer converts a SentencePiece unigram model to a
// Hugging Face tokenizer.json (see package spm):
//
//	spm2tokenizer MODEL.model OUT.json
package main

import (
	"fmt"
	"os"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/onnx/tokenizer/spm"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: spm2tokenizer MODEL.model OUT.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "spm2tokenizer:", err)
		os.Exit(2)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	m, err := spm.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	j, err := m.TokenizerJSON()
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return atomicfile.WriteFile(out, append(j, '\n'))
}
