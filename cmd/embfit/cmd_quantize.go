package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/onnx/quantize"
)

func quantizeCommand() *cli.Command {
	formats := make([]string, len(quantize.Formats))
	for i, f := range quantize.Formats {
		formats[i] = string(f)
	}
	return &cli.Command{
		Name:      "quantize",
		Usage:     "write an int8 copy of an encoder: MatMul/Gemm weights quantized per output channel",
		ArgsUsage: " ",
		Description: "Dynamic int8 quantization: the float32 weights of MatMul and Gemm nodes become int8 with one\n" +
			"scale per output column; activations are quantized to uint8 per tensor at run time. Embeddings,\n" +
			"LayerNorm, attention scores and Softmax stay float32. --model is an .onnx file (--out is then one\n" +
			"file) or a model folder (--out is then a folder: the quantized model at the same place, plus the\n" +
			"tokenizer, configuration and model-card files). Compare the two with\n" +
			"`embfit audit --model M --model Q --input FILE`.\n\n" +
			"Formats: matmul-integer (standard ONNX DynamicQuantizeLinear + MatMulInteger, any runtime) or\n" +
			"dynamic-quantize-matmul (ONNX Runtime's com.microsoft DynamicQuantizeMatMul).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "encoder `M` (.onnx file or model folder)"},
			&cli.StringFlag{Name: "out", Usage: "quantized model `Q` (a file for a file, a folder for a folder)"},
			&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists"},
			&cli.StringFlag{Name: "format", Value: string(quantize.FormatMatMulInteger), Usage: "operators: " + strings.Join(formats, " or ")},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return fmt.Errorf("unexpected argument %q (see embfit quantize --help)", c.Args().First())
			}
			if err := requireFlags(c, "model", "out"); err != nil {
				return err
			}
			f := quantize.Format(c.String("format"))
			if !slices.Contains(quantize.Formats, f) {
				return fmt.Errorf("--format %q: want %s", f, strings.Join(formats, " or "))
			}
			out := c.String("out")
			rep, err := quantize.Files(c.String("model"), out, c.Bool("force"), quantize.Options{Format: f})
			switch {
			case errors.Is(err, quantize.ErrExists):
				return fmt.Errorf("--out %s: already exists (use --force to replace it)", out)
			case err != nil:
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "wrote %s: %d MatMul/Gemm weights int8 (%.1f MB → %.1f MB)", rep.Model, rep.Quantized, float64(rep.FloatBytes)/1e6, float64(rep.Int8Bytes)/1e6)
			if n := len(rep.Skipped); n > 0 {
				fmt.Fprintf(w, ", %d MatMul/Gemm left in float32 (%s, ...)", n, rep.Skipped[0])
			}
			fmt.Fprintln(w)
			if len(rep.Copied) > 0 {
				fmt.Fprintf(w, "carried over: %s\n", strings.Join(rep.Copied, ", "))
			}
			return nil
		},
	}
}
