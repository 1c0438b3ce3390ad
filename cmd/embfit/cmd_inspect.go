package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/tokenizer"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print an ONNX model's inputs, outputs (names, types, shapes) and opset",
		UsageText: "embfit inspect --model M [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "ONNX model file, or a folder with model.onnx (or onnx/model.onnx)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: runInspect,
	}
}

type inspectTokenizer struct {
	Path      string `json:"path"`
	VocabSize int    `json:"vocab_size"`
	MaxLength int    `json:"max_length,omitempty"`
}

func runInspect(c *cli.Context) error {
	if err := requireFlags(c, "model"); err != nil {
		return err
	}
	files, err := onnx.ResolveModel(c.String("model"))
	if err != nil {
		return err
	}
	info, err := onnx.Inspect(files.Model)
	if err != nil {
		return fmt.Errorf("model %w", err)
	}
	var tok *inspectTokenizer
	if files.Tokenizer != "" {
		t, err := tokenizer.Load(files.Tokenizer)
		if err != nil {
			return fmt.Errorf("tokenizer %w", err)
		}
		tok = &inspectTokenizer{Path: files.Tokenizer, VocabSize: t.VocabSize(), MaxLength: t.MaxLength()}
	}
	w := c.App.Writer
	if c.Bool("json") {
		type io struct {
			Name  string   `json:"name"`
			Type  string   `json:"type"`
			Shape []string `json:"shape"`
		}
		conv := func(vs []onnx.ValueInfo) []io {
			out := make([]io, len(vs))
			for i, v := range vs {
				out[i] = io{Name: v.Name, Type: graphTypeName(v)}
				for _, d := range v.Dims {
					out[i].Shape = append(out[i].Shape, d.String())
				}
			}
			return out
		}
		b, err := json.MarshalIndent(map[string]any{
			"model": files.Model, "opset": info.Opset, "ir_version": info.IRVersion, "producer": info.Producer,
			"inputs": conv(info.Inputs), "outputs": conv(info.Outputs), "tokenizer": tok,
		}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	fmt.Fprintf(w, "model:    %s\nproducer: %s\nopset:    %d (IR version %d)\n", files.Model, info.Producer, info.Opset, info.IRVersion)
	fmt.Fprintln(w, "inputs:")
	for _, v := range info.Inputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	fmt.Fprintln(w, "outputs:")
	for _, v := range info.Outputs {
		fmt.Fprintf(w, "  %s\n", v)
	}
	if tok != nil {
		fmt.Fprintf(w, "tokenizer: %s (%d tokens", tok.Path, tok.VocabSize)
		if tok.MaxLength > 0 {
			fmt.Fprintf(w, ", max length %d", tok.MaxLength)
		}
		fmt.Fprintln(w, ")")
	}
	return nil
}
