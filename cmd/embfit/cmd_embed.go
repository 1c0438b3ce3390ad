package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/embed"
)

func embedCommand() *cli.Command {
	return &cli.Command{
		Name:      "embed",
		Usage:     "embed a JSONL file with an ONNX encoder into a .npy file",
		UsageText: "embfit embed --model M --input data.jsonl [--field text] [--pooling mean] [--normalize] [--batch-size 64] [--max-length 256] --out emb.npy",
		Description: "Writes float32 [N,D] embeddings to --out (numpy-readable) and, beside it, " +
			"<out minus .npy>.ids.jsonl with one line per row: {\"row\", \"line\", \"id\", \"label\"} " +
			"(id and label when the input had them). Both files appear only when complete.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "ONNX model file, or a folder with model.onnx (or onnx/model.onnx) and tokenizer.json"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "JSONL input, one object per line (- for standard input)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "embeddings .npy to write"},
			&cli.StringFlag{Name: "field", Usage: "field holding the item: text for text models (default \"text\"), a number array for float models (default \"tensor\")"},
			&cli.StringFlag{Name: "id-field", Value: "id", Usage: "field copied to the sidecar as the row's id"},
			&cli.StringFlag{Name: "label-field", Value: "label", Usage: "field copied to the sidecar as the row's label"},
			&cli.StringFlag{Name: "pooling", Usage: "mean | cls | max | none (default: mean for token outputs [B,T,D], none for [B,D])"},
			&cli.BoolFlag{Name: "normalize", Usage: "scale embeddings to unit L2 norm"},
			&cli.IntFlag{Name: "batch-size", Value: onnx.DefaultBatchSize, Usage: "items per ONNX Runtime run"},
			&cli.IntFlag{Name: "max-length", Value: onnx.DefaultMaxLength, Usage: "max tokens per text, special tokens included (clamped to the model's limit)"},
			&cli.StringFlag{Name: "output", Usage: "model output to use (default sentence_embedding, else last_hidden_state, else the only one)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json to use instead of the one beside the model"},
			&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime intra-op threads (0: all cores)"},
			&cli.BoolFlag{Name: "keep-non-finite", Usage: "keep embeddings holding NaN or ±Inf (counted) instead of failing on the first"},
		},
		Action: runEmbed,
	}
}

func runEmbed(c *cli.Context) error {
	if err := requireFlags(c, "model", "input", "out"); err != nil {
		return err
	}
	if err := checkInts(c, encoderFlagBounds("batch-size")...); err != nil {
		return err
	}
	if c.String("out") == "-" {
		return fmt.Errorf("--out -: embeddings go to a .npy file beside a sidecar; give a file name (a device such as /dev/stdout is written directly, without the sidecar)")
	}
	stderr := c.App.ErrWriter
	var rep *progress.Reporter
	enc, err := onnx.OpenEncoder(c.String("model"), onnx.EncoderSettings{
		Output:    c.String("output"),
		Pooling:   onnx.Pooling(c.String("pooling")),
		Normalize: c.Bool("normalize"),
		BatchSize: c.Int("batch-size"),
		MaxLength: c.Int("max-length"),
		Tokenizer: c.String("tokenizer"),
		Threads:   c.Int("threads"),
		Progress: func(done, total int) {
			if rep == nil {
				rep = progress.New(stderr, "embed", total, "items", 10*time.Second)
			}
			rep.Set(done)
		},
	})
	if err != nil {
		return err
	}
	defer enc.Close()
	for _, w := range enc.Warnings() {
		fmt.Fprintln(stderr, "embfit: warning: --max-length:", w)
	}
	res, err := embed.JSONL(c.Context, enc, embed.FileSettings{
		Input:         c.String("input"),
		Field:         c.String("field"),
		IDField:       c.String("id-field"),
		LabelField:    c.String("label-field"),
		Out:           c.String("out"),
		KeepNonFinite: c.Bool("keep-non-finite"),
	})
	if rep != nil {
		rep.Finish()
	}
	if err != nil {
		return err
	}
	if res.IDsOut == "" {
		fmt.Fprintf(stderr, "embfit: note: --out %s is not a regular file: written directly, no .ids.jsonl sidecar\n", res.Out)
		res.IDsOut = "no sidecar"
	}
	if res.NonFinite > 0 {
		fmt.Fprintf(stderr, "embfit: warning: %d embeddings hold NaN or ±Inf (kept: --keep-non-finite)\n", res.NonFinite)
	}
	s := enc.Settings()
	inRun := 0.0
	if res.Elapsed > 0 {
		inRun = 100 * res.RunTime.Seconds() / res.Elapsed.Seconds()
	}
	w := c.App.Writer
	if isStdout(c.String("out")) {
		w = stderr // standard output holds the embeddings
	}
	fmt.Fprintf(w, "embedded %d items → %s [%d×%d float32] (+ %s) in %s: %.1f items/s, %.0f%% of the time in ONNX Runtime (output %s, pooling %s, normalize %v)\n",
		res.Items, res.Out, res.Items, res.Dim, res.IDsOut, res.Elapsed.Round(time.Millisecond),
		progress.Rate(res.Items, res.Elapsed), inRun, s.Output, s.Pooling, s.Normalize)
	return nil
}
