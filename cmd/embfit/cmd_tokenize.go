package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
	"github.com/embfit/embfit/onnx/tokenizer"
)

func tokenizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "tokenize",
		Usage:     "print the token ids, tokens and attention mask of texts",
		UsageText: "embfit tokenize (--model M | --tokenizer tokenizer.json) [--json] [--max-length N] TEXT...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model file or folder; only its tokenizer.json is used"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per text"},
			&cli.IntFlag{Name: "max-length", Usage: "truncate to N tokens, special tokens included (default: the tokenizer's own truncation, if any)"},
		},
		Action: runTokenize,
	}
}

// findTokenizer returns --tokenizer, or the tokenizer.json of --model
// (which may be a folder holding only tokenizer.json).
func findTokenizer(c *cli.Context) (string, error) {
	if p := c.String("tokenizer"); p != "" {
		return p, nil
	}
	m := c.String("model")
	if m == "" {
		return "", errors.New("give --model or --tokenizer")
	}
	files, err := onnx.ResolveModel(m)
	if err == nil && files.Tokenizer != "" {
		return files.Tokenizer, nil
	}
	if p := filepath.Join(m, "tokenizer.json"); tokenizeFileExists(p) {
		return p, nil
	}
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("--model %s: no tokenizer.json found (use --tokenizer)", m)
}

func tokenizeFileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func runTokenize(c *cli.Context) error {
	texts := c.Args().Slice()
	if len(texts) == 0 {
		return errors.New("give one or more texts to tokenize")
	}
	if err := checkInts(c, intBound{"max-length", 1, maxLength}); err != nil {
		return err
	}
	if c.Int("max-length") < 0 {
		return fmt.Errorf("--max-length %d: must be positive", c.Int("max-length"))
	}
	path, err := findTokenizer(c)
	if err != nil {
		return err
	}
	tk, err := tokenizer.Load(path)
	if err != nil {
		return fmt.Errorf("tokenizer %w", err)
	}
	w := c.App.Writer
	for _, text := range texts {
		e := tk.Encode(text, c.Int("max-length"))
		mask := make([]int, len(e.IDs))
		for i := range mask {
			mask[i] = 1
		}
		if c.Bool("json") {
			b, err := json.Marshal(struct {
				Text          string   `json:"text"`
				IDs           []int64  `json:"ids"`
				Tokens        []string `json:"tokens"`
				AttentionMask []int    `json:"attention_mask"`
				TypeIDs       []int64  `json:"type_ids"`
			}{text, nonNil(e.IDs), nonNilS(e.Tokens), mask, nonNil(e.TypeIDs)})
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
			continue
		}
		fmt.Fprintf(w, "text:           %q\n", text)
		fmt.Fprintf(w, "ids:            %s\n", joinInts(e.IDs))
		fmt.Fprintf(w, "tokens:         %s\n", strings.Join(e.Tokens, " "))
		fmt.Fprintf(w, "attention_mask: %s\n", strings.TrimSuffix(strings.Repeat("1 ", len(e.IDs)), " "))
	}
	return nil
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}

func nonNil(v []int64) []int64 {
	if v == nil {
		return []int64{}
	}
	return v
}

func nonNilS(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func graphTypeName(v onnx.ValueInfo) string { return graph.TypeName(v.Type) }
