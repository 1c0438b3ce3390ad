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
		Usage:     "print the token ids, tokens, byte offsets, type ids and attention mask of texts, and the ids decoded back to text",
		UsageText: "embfit tokenize (--model M | --tokenizer tokenizer.json) [--json] [--max-length N] [--pair TEXT] TEXT...",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model file or folder; only its tokenizer.json is used"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json file"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per text"},
			&cli.IntFlag{Name: "max-length", Usage: "truncate to N tokens, special tokens included (default: the tokenizer's own truncation, if any)"},
			&cli.StringFlag{Name: "pair", Usage: "encode each text together with this second text (as a cross-encoder takes a pair)"},
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
		return err
	}
	w := c.App.Writer
	for _, text := range texts {
		var e tokenizer.Encoding
		if c.IsSet("pair") {
			e, err = tk.EncodePair(text, c.String("pair"), c.Int("max-length"))
		} else {
			e, err = tk.EncodeText(text, c.Int("max-length"))
		}
		if err != nil {
			return fmt.Errorf("%s: text %q: %w", path, text, err)
		}
		mask := make([]int, len(e.IDs))
		for i := range mask {
			mask[i] = 1
		}
		offsets := e.Offsets
		if offsets == nil {
			offsets = [][2]int{}
		}
		if c.Bool("json") {
			b, err := json.Marshal(struct {
				Text          string   `json:"text"`
				Pair          *string  `json:"pair,omitempty"`
				IDs           []int64  `json:"ids"`
				Tokens        []string `json:"tokens"`
				Offsets       [][2]int `json:"offsets"`
				AttentionMask []int    `json:"attention_mask"`
				TypeIDs       []int64  `json:"type_ids"`
				Decoded       string   `json:"decoded"`
			}{text, pairOf(c), nonNil(e.IDs), nonNilS(e.Tokens), offsets, mask, nonNil(e.TypeIDs), tk.Decode(e.IDs, true)})
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
			continue
		}
		fmt.Fprintf(w, "text:           %q\n", text)
		if c.IsSet("pair") {
			fmt.Fprintf(w, "pair:           %q\n", c.String("pair"))
		}
		fmt.Fprintf(w, "ids:            %s\n", joinInts(e.IDs))
		fmt.Fprintf(w, "tokens:         %s\n", strings.Join(quoteOdd(e.Tokens), " "))
		fmt.Fprintf(w, "offsets:        %s\n", joinOffsets(offsets))
		fmt.Fprintf(w, "type_ids:       %s\n", joinInts(e.TypeIDs))
		fmt.Fprintf(w, "attention_mask: %s\n", strings.TrimSuffix(strings.Repeat("1 ", len(e.IDs)), " "))
		fmt.Fprintf(w, "decoded:        %q\n", tk.Decode(e.IDs, true))
	}
	return nil
}

func pairOf(c *cli.Context) *string {
	if !c.IsSet("pair") {
		return nil
	}
	s := c.String("pair")
	return &s
}

// quoteOdd quotes tokens that are empty or hold spaces or control
// characters, so that the space-separated line stays readable.
func quoteOdd(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t
		if t == "" || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			out[i] = fmt.Sprintf("%q", t)
		}
	}
	return out
}

// joinOffsets prints byte offsets as start:end.
func joinOffsets(v [][2]int) string {
	s := make([]string, len(v))
	for i, o := range v {
		s[i] = fmt.Sprintf("%d:%d", o[0], o[1])
	}
	return strings.Join(s, " ")
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
