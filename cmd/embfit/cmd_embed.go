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
		UsageText: "embfit embed --model M --input data.jsonl|items.npy [--field text] [--file F] [--pooling P] [--normalize] [--prompt T | --prompt-name N] [--batch-size 64] [--max-length N] --out emb.npy",
		Description: "Writes float32 [N,D] embeddings to --out (numpy-readable) and, beside it, " +
			"<out minus .npy>.ids.jsonl with one line per row: {\"row\", \"line\", \"id\", \"label\"} " +
			"(id and label when the input had them). Both files appear only when complete.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "ONNX model file, or a model folder (model.onnx or onnx/model.onnx, tokenizer.json, sentence-transformers configuration)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "JSONL input, one object per line (- for standard input)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "embeddings .npy to write"},
			&cli.StringFlag{Name: "field", Usage: "field holding the item: text for text models (default \"text\"), a number array for float models (default \"tensor\")"},
			&cli.StringFlag{Name: "id-field", Value: "id", Usage: "field copied to the sidecar as the row's id"},
			&cli.StringFlag{Name: "label-field", Value: "label", Usage: "field copied to the sidecar as the row's label"},
			&cli.StringFlag{Name: "pooling", Usage: "mean | cls | max | mean_sqrt_len_tokens | weightedmean | lasttoken | none (default: the model folder's 1_Pooling, else mean for token outputs [B,T,D], none for [B,D])"},
			&cli.BoolFlag{Name: "normalize", Usage: "scale embeddings to unit L2 norm (default: as the model folder's modules.json says)"},
			&cli.IntFlag{Name: "batch-size", Value: onnx.DefaultBatchSize, Usage: "items per ONNX Runtime run"},
			&cli.IntFlag{Name: "max-length", Value: onnx.DefaultMaxLength, Usage: "max tokens per text, special tokens included (default: the model folder's max_seq_length, else 256; clamped to the model's limit)"},
			&cli.StringFlag{Name: "output", Usage: "model output to use (default sentence_embedding, else last_hidden_state, else the only one)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json to use instead of the one beside the model"},
			&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime intra-op threads (0: all cores)"},
			&cli.BoolFlag{Name: "keep-non-finite", Usage: "keep embeddings holding NaN or ±Inf (counted) instead of failing on the first"},
		}, modelFlags()...),
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
	shardI, shardN, err := embedShard(c)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	var rep *progress.Reporter
	s := encoderSettings(c)
	s.Progress = func(done, total int) {
		if rep == nil {
			rep = progress.New(stderr, "embed", total, "items", 10*time.Second)
		}
		rep.Set(done)
	}
	enc, err := onnx.OpenEncoder(c.String("model"), s)
	if err != nil {
		return err
	}
	defer enc.Close()
	for _, w := range enc.Warnings() {
		fmt.Fprintln(stderr, "embfit: note:", w)
	}
	res, err := embed.JSONL(c.Context, enc, embed.FileSettings{
		Input:         c.String("input"),
		Field:         c.String("field"),
		IDField:       c.String("id-field"),
		LabelField:    c.String("label-field"),
		Out:           c.String("out"),
		Shard:         shardI,
		Shards:        shardN,
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
	p := enc.Pipeline()
	inRun := 0.0
	if res.Elapsed > 0 {
		inRun = 100 * res.RunTime.Seconds() / res.Elapsed.Seconds()
	}
	w := c.App.Writer
	if isStdout(c.String("out")) {
		w = stderr // standard output holds the embeddings
	}
	fmt.Fprintf(w, "embedded %d items → %s [%d×%d float32] (+ %s) in %s: %.1f items/s, %.0f%% of the time in ONNX Runtime (output %s, pooling %s, normalize %v%s)\n",
		res.Items, res.Out, res.Items, res.Dim, res.IDsOut, res.Elapsed.Round(time.Millisecond),
		progress.Rate(res.Items, res.Elapsed), inRun, p.Output.Value, p.Pooling.Value, p.Normalize.Value, promptNote(p))
	return nil
}

func promptNote(p onnx.Pipeline) string {
	if p.Prompt.Value == "" {
		return ""
	}
	return fmt.Sprintf(", prompt %q", p.Prompt.Value)
}
