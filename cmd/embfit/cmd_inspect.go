package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/tokenizer"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print an ONNX model's inputs, outputs (names, types, shapes), opset and resolved pipeline",
		UsageText: "embfit inspect --model M [--json] [--file F] [--pooling P] [--normalize] [--max-length N] [--prompt T | --prompt-name N]",
		Description: "The pipeline section shows how embfit will embed with the model: tokenizer, output, pooling, " +
			"normalization, max length, lower-casing, padding side, prompt, similarity and batch size, each with where it " +
			"came from: default, explicit (a flag), model (the ONNX graph) or the configuration file that set it.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "ONNX model file, or a model folder (model.onnx or onnx/model.onnx, tokenizer.json, sentence-transformers configuration)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.StringFlag{Name: "pooling", Usage: "mean | cls | max | mean_sqrt_len_tokens | weightedmean | lasttoken | none (default: the model folder's, else mean for token outputs)"},
			&cli.BoolFlag{Name: "normalize", Usage: "scale embeddings to unit L2 norm"},
			&cli.IntFlag{Name: "max-length", Usage: "max tokens per text"},
			&cli.IntFlag{Name: "batch-size", Usage: "items per ONNX Runtime run"},
			&cli.StringFlag{Name: "output", Usage: "model output to use"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json to use instead of the one beside the model"},
		}, modelFlags()...),
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
	files, err := onnx.ResolveModelFile(c.String("model"), c.String("file"))
	if err != nil {
		return err
	}
	pipe, notes, perr := onnx.Resolve(c.String("model"), encoderSettings(c))
	if _, ok := inputerr.As(perr); ok {
		return perr // a bad configuration file or setting
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
			"pipeline": pipelineOrError(pipe, perr), "notes": notes,
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
	if perr != nil {
		fmt.Fprintf(w, "pipeline: not usable: %v\n", perr)
		return nil
	}
	printPipeline(w, pipe)
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

func pipelineOrError(p onnx.Pipeline, err error) any {
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return p
}
