package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/audit"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/embed"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "measure a model or embeddings on labelled or paired data: losses, triplet anatomy, temperature sweep, retrieval metrics, suspects",
		Description: "With --embeddings E.npy (float32 [N,D]) and --labels L (one label per line, or JSONL\n" +
			"with a \"label\" field, in row order), evaluates each --loss SPEC (NAME[:key=value,...];\n" +
			"default: " + strings.Join(losses.Names(), ", ") + " with defaults) and counts easy/semihard/hard\n" +
			"triplets at margin 0.2. Prints a table; --json writes the audit as JSON, --per-sample writes\n" +
			"one JSON line per row with ‖∂L/∂x_i‖ for each loss.\n\n" +
			"With --model M --input FILE (JSONL, labelled {text, label} or pairs {anchor, positive}) the input is\n" +
			"embedded with M; give --model twice to compare two models metric by metric. Besides the losses the\n" +
			"audit reports the triplet categories across margins, InfoNCE over a temperature sweep with the entropy\n" +
			"of the softmax over negatives, class-center statistics, positive/negative similarity distributions\n" +
			"(overlap, ROC-AUC, best threshold), retrieval metrics overall and per class, and suspected label\n" +
			"noise / false negatives with their texts. --html writes a self-contained report with charts;\n" +
			"--losses-only keeps to the losses and triplet counts.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "embeddings", Usage: "embeddings `E.npy` (float32 [N,D])"},
			&cli.StringFlag{Name: "labels", Usage: "labels `FILE`: one per line, or JSONL with a \"label\" field"},
			&cli.GenericFlag{Name: "loss", Usage: "loss `SPEC` NAME[:key=value,...] (repeatable; names: " + strings.Join(losses.Names(), ", ") + ")", Value: &specList{}},
			&cli.StringFlag{Name: "json", Usage: "write the audit as JSON to `OUT` (\"-\": standard output instead of the table)"},
			&cli.StringFlag{Name: "per-sample", Usage: "write per-row gradient norms as JSONL to `OUT.jsonl` (\"-\": standard output instead of the table)"},
			&cli.StringFlag{Name: "precision", Usage: "float64 (exact) or float32 (BLAS); default float64 up to 4096 rows"},
		}, auditModelFlags()...),
		Action: runAudit,
	}
}

// auditModelFlags are the flags of `embfit audit --model`, its report and
// its section choice.
func auditModelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "model", Value: &specList{}, // no alias: cli syncs aliases by re-Setting String()
			Usage: "ONNX `MODEL` (file or folder with tokenizer.json) to embed --input with; give it twice to compare two models"},
		&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "JSONL `FILE`: labelled {text, label} or pairs {anchor, positive}"},
		&cli.StringFlag{Name: "text-field", Value: "text", Usage: "field of the text in labelled input (\"tensor\" by default for tensor models)"},
		&cli.StringFlag{Name: "label-field", Value: "label", Usage: "field of the label in labelled input"},
		&cli.StringFlag{Name: "anchor-field", Value: "anchor", Usage: "field of the anchor in pairs input"},
		&cli.StringFlag{Name: "positive-field", Value: "positive", Usage: "field of the positive in pairs input"},
		&cli.StringFlag{Name: "html", Usage: "write a self-contained HTML report with tables and charts to `REPORT.html` (\"-\": standard output instead of the table)"},
		&cli.StringFlag{Name: "pooling", Usage: "mean | cls | max | none (default: mean for token outputs, none for pooled)"},
		&cli.IntFlag{Name: "max-length", Usage: "max tokens per text (default: the model folder's max_seq_length, else 256; clamped to the model's limit)"},
		&cli.IntFlag{Name: "batch-size", Value: onnx.DefaultBatchSize, Usage: "texts per ONNX Runtime run"},
		&cli.StringFlag{Name: "file", Usage: "ONNX file inside the model folder, e.g. onnx/model_O4.onnx"},
		&cli.StringFlag{Name: "query-prompt", Usage: "text prepended to anchors (pairs) or to every text (labelled); default: the model folder's default prompt"},
		&cli.StringFlag{Name: "query-prompt-name", Usage: "one of the model folder's prompts for anchors / labelled texts, e.g. query"},
		&cli.StringFlag{Name: "corpus-prompt", Usage: "text prepended to positives (pairs input); default: the model folder's default prompt"},
		&cli.StringFlag{Name: "corpus-prompt-name", Usage: "one of the model folder's prompts for positives, e.g. document"},
		&cli.Float64Flag{Name: "noise-quantile", Value: 0.9, Usage: "list a pair as suspected label noise / false negative when it outranks this fraction of the anchor's positives"},
		&cli.IntFlag{Name: "max-suspects", Value: 50, Usage: "how many suspected pairs to list"},
		&cli.BoolFlag{Name: "losses-only", Usage: "only the losses and the triplet counts at the chosen margin"},
	}
}

// runAudit runs the audit (see auditCommand).
func runAudit(c *cli.Context) error {
	models := []string(*c.Generic("model").(*specList))
	embPath, labPath, input := c.String("embeddings"), c.String("labels"), c.String("input")
	switch {
	case len(models) > 0 && embPath != "":
		return fmt.Errorf("give --model with --input, or --embeddings with --labels, not both")
	case len(models) > 2:
		return fmt.Errorf("--model: at most two models can be compared, got %d", len(models))
	case len(models) > 0 && input == "":
		return fmt.Errorf("--input is required with --model")
	case len(models) == 0 && input != "":
		return fmt.Errorf("--model is required with --input")
	case len(models) == 0 && embPath == "":
		return fmt.Errorf("--embeddings is required (with --labels), or --model with --input")
	case embPath != "" && labPath == "":
		return fmt.Errorf("--labels is required with --embeddings")
	}
	specs := []string(*c.Generic("loss").(*specList))
	set := audit.Settings{
		Losses:        specs,
		PerSample:     c.String("per-sample") != "",
		Precision:     c.String("precision"),
		NoiseQuantile: c.Float64("noise-quantile"),
		MaxSuspects:   c.Int("max-suspects"),
		LossesOnly:    c.Bool("losses-only"),
	}
	if err := set.Validate(); err != nil {
		return err
	}
	if err := checkInts(c, intBound{"batch-size", 1, maxBatch}, intBound{"max-length", 1, maxLength}, intBound{"max-suspects", 0, 1 << 20}); err != nil {
		return err
	}
	jsonOut, perOut, htmlOut := c.String("json"), c.String("per-sample"), c.String("html")
	if err := checkOutputs(output{"--json", jsonOut}, output{"--per-sample", perOut}, output{"--html", htmlOut}); err != nil {
		return err
	}
	inputs := append([]string{embPath, labPath, input}, models...)
	for _, out := range []struct{ flag, path string }{{"--json", jsonOut}, {"--per-sample", perOut}, {"--html", htmlOut}} {
		if out.path == "" || out.path == "-" {
			continue
		}
		for _, in := range inputs {
			if in != "" && samePath(out.path, in) {
				return fmt.Errorf("%s %s: would overwrite the input file", out.flag, out.path)
			}
		}
	}
	// Open every output before the work: an unwritable path fails now,
	// not after the audit; all of them are committed together at the end.
	outs, err := createOutputs(c.App.Writer, output{"--json", jsonOut}, output{"--per-sample", perOut}, output{"--html", htmlOut})
	if err != nil {
		return err
	}
	defer outs.abort()
	stderr := c.App.ErrWriter
	start := time.Now()
	var bar *progress.Reporter
	set.Progress = func(stage string, done, total int) {
		if done == 0 {
			if bar != nil {
				bar.Finish()
			}
			fmt.Fprintf(stderr, "audit: %s (%s elapsed)\n", stage, time.Since(start).Round(time.Second))
			bar = progress.New(stderr, "audit: "+stage, total, auditUnits[stage], 0)
			return
		}
		bar.Set(done)
	}
	defer func() {
		if bar != nil {
			bar.Finish()
		}
	}()

	var d audit.Data
	var names []string
	var xs []blas32.General
	var encoders []map[string]onnx.Pipeline // per model: the resolved pipelines it embedded with
	if embPath != "" {
		x, err := dataio.ReadNPY(embPath)
		if err != nil {
			return fmt.Errorf("--embeddings: %w", err)
		}
		labels, err := dataio.ReadLabels(labPath)
		if err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
		if len(labels.IDs) != x.Rows {
			return fmt.Errorf("--labels %s: %d labels but --embeddings %s has %d rows", labPath, len(labels.IDs), embPath, x.Rows)
		}
		d = audit.Data{X: x, Labels: labels.IDs, ClassNames: labels.Names, Texts: audit.ReadLabelTexts(labPath, c.String("text-field"), x.Rows)}
		names, xs = []string{embPath}, []blas32.General{x}
	} else {
		cols := audit.Columns{Text: c.String("text-field"), Label: c.String("label-field"),
			Anchor: c.String("anchor-field"), Positive: c.String("positive-field")}
		// Tensor models take tensor items ({"tensor": [...], "label": ...}).
		for i, m := range models {
			p, _, err := onnx.Resolve(m, onnx.EncoderSettings{File: c.String("file")})
			if err != nil {
				return fmt.Errorf("--model %s: %w", m, err)
			}
			tensor := p.Input == "tensor"
			if i > 0 && tensor != (cols.TensorShape != nil) {
				return fmt.Errorf("--model: cannot compare a text model with a tensor model")
			}
			if tensor {
				if p.ItemShape == nil {
					return fmt.Errorf("--model %s takes a float tensor (input %s) whose item shape is not fixed; embfit audit needs a fixed shape", m, p.InputName)
				}
				cols.TensorShape = p.ItemShape
				if !c.IsSet("text-field") {
					cols.Text = "tensor"
				}
			}
		}
		in, err := audit.ReadInput(input, cols)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		for _, m := range models {
			x, pipes, err := auditEmbed(c, m, in.Texts, in.Queries, stderr)
			if err != nil {
				return err
			}
			names, xs, encoders = append(names, m), append(xs, x), append(encoders, pipes)
		}
		d = in.Data(xs[0])
	}

	var reps []*audit.Report
	for i, x := range xs {
		d.X = x
		if len(xs) > 1 {
			fmt.Fprintf(stderr, "audit: model %d of %d: %s\n", i+1, len(xs), names[i])
		}
		rep, err := audit.Run(c.Context, d, set)
		if err != nil {
			return err
		}
		rep.Model = names[i]
		if i < len(encoders) {
			rep.Encoder = encoders[i]
		}
		reps = append(reps, rep)
	}

	if f := outs.get("--per-sample"); f != nil {
		if err := audit.WritePerSampleTo(f, d, reps...); err != nil {
			return fmt.Errorf("--per-sample %s: %w", perOut, err)
		}
	}
	if f := outs.get("--html"); f != nil {
		if err := writeAuditHTML(f, reps); err != nil {
			return fmt.Errorf("--html %s: %w", htmlOut, err)
		}
	}
	if f := outs.get("--json"); f != nil {
		if err := audit.WriteJSON(f, reps...); err != nil {
			return fmt.Errorf("--json %s: %w", jsonOut, err)
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if outs.stdout() {
		return nil
	}
	return audit.WriteTable(c.App.Writer, reps...)
}

// auditUnits names what each audit stage counts.
var auditUnits = map[string]string{"losses": "losses", "triplets": "anchors", "temperature": "anchors", "centers": "steps", "retrieval": "queries"}

// auditEmbed embeds texts with model (each distinct text once): in pairs
// input the first queries texts are anchors (query prompt) and the rest
// positives (corpus prompt); labelled texts (queries 0) get the query
// prompt.
func auditEmbed(c *cli.Context, model string, texts []string, queries int, stderr io.Writer) (blas32.General, map[string]onnx.Pipeline, error) {
	report, stop := progress.Bars(stderr, "audit: ", func(string) string { return "texts" })
	defer stop()
	if p, _, err := onnx.Resolve(model, onnx.EncoderSettings{File: c.String("file")}); err == nil && p.Input == "tensor" {
		return auditEmbedTensors(c, model, texts)
	}
	tm, err := embed.Open(model, embed.ModelSettings{
		Encoder: onnx.EncoderSettings{
			Pooling:   onnx.Pooling(c.String("pooling")),
			MaxLength: c.Int("max-length"),
			BatchSize: c.Int("batch-size"),
			File:      c.String("file"),
		},
		Warn:     func(w string) { fmt.Fprintf(stderr, "embfit audit: warning: %s\n", w) },
		Progress: report,
	})
	if err != nil {
		return blas32.General{}, nil, withHint(err, "model", "takes a float tensor", "embfit audit --model needs text; embed it with `embfit embed` and audit with --embeddings")
	}
	defer tm.Close()
	qm, err := tm.WithPrompt(c.String("query-prompt"), c.String("query-prompt-name"))
	if err != nil {
		return blas32.General{}, nil, promptFlagError(err, "query")
	}
	if queries == 0 {
		if c.String("corpus-prompt") != "" || c.String("corpus-prompt-name") != "" {
			return blas32.General{}, nil, fmt.Errorf("--corpus-prompt: labelled input has no corpus side (use --query-prompt)")
		}
		x, err := qm.EmbedDistinct(c.Context, "embed "+model, texts)
		if err != nil {
			return blas32.General{}, nil, fmt.Errorf("--model %s: %w", model, err)
		}
		return x, map[string]onnx.Pipeline{"texts": qm.Encoder().Pipeline()}, nil
	}
	cm, err := tm.WithPrompt(c.String("corpus-prompt"), c.String("corpus-prompt-name"))
	if err != nil {
		return blas32.General{}, nil, promptFlagError(err, "corpus")
	}
	xq, err := qm.EmbedDistinct(c.Context, "embed anchors "+model, texts[:queries])
	if err != nil {
		return blas32.General{}, nil, fmt.Errorf("--model %s: %w", model, err)
	}
	xc, err := cm.EmbedDistinct(c.Context, "embed positives "+model, texts[queries:])
	if err != nil {
		return blas32.General{}, nil, fmt.Errorf("--model %s: %w", model, err)
	}
	x := linalg.NewMatrix(len(texts), xq.Cols)
	copy(x.Data, xq.Data[:xq.Rows*xq.Cols])
	copy(x.Data[xq.Rows*xq.Cols:], xc.Data[:xc.Rows*xc.Cols])
	return x, map[string]onnx.Pipeline{"anchors": qm.Encoder().Pipeline(), "positives": cm.Encoder().Pipeline()}, nil
}

// auditEmbedTensors embeds tensor items (canonical texts) with a tensor
// model.
func auditEmbedTensors(c *cli.Context, model string, texts []string) (blas32.General, map[string]onnx.Pipeline, error) {
	for _, f := range []string{"query-prompt", "query-prompt-name", "corpus-prompt", "corpus-prompt-name"} {
		if c.String(f) != "" {
			return blas32.General{}, nil, fmt.Errorf("--%s: model %s takes a float tensor: prompts do not apply", f, model)
		}
	}
	set := onnx.EncoderSettings{File: c.String("file")}
	if c.IsSet("batch-size") {
		set.BatchSize = c.Int("batch-size")
	}
	enc, err := onnx.OpenEncoder(model, set)
	if err != nil {
		return blas32.General{}, nil, fmt.Errorf("--model %s: %w", model, err)
	}
	defer enc.Close()
	for _, w := range enc.Warnings() {
		fmt.Fprintf(c.App.ErrWriter, "embfit audit: note: %s\n", w)
	}
	x := linalg.NewMatrix(len(texts), enc.Dim())
	if err := (embed.TensorTexts{Enc: enc}).Encode(c.Context, x, texts); err != nil {
		return blas32.General{}, nil, fmt.Errorf("--model %s: %w", model, err)
	}
	return x, map[string]onnx.Pipeline{"items": enc.Pipeline()}, nil
}

// promptFlagError names the --query-… or --corpus-… prompt flag in an
// error about the encoder's prompt settings.
func promptFlagError(err error, role string) error {
	if e, ok := inputerr.As(err); ok && (e.Setting == "prompt" || e.Setting == "prompt_name") {
		return fmt.Errorf("--%s-%s: %w", role, strings.ReplaceAll(e.Setting, "_", "-"), e.Err)
	}
	return err
}

func writeAuditHTML(w io.Writer, reps []*audit.Report) error {
	title := "embfit audit"
	if len(reps) > 1 {
		title = "embfit audit: " + strings.Join([]string{reps[0].Model, reps[1].Model}, " vs ")
	}
	bw := bufio.NewWriter(w)
	if err := audit.WriteHTML(bw, title, reps...); err != nil {
		return err
	}
	return bw.Flush()
}
