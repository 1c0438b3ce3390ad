package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline"
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
		}, auditFullFlags()...),
		Action: func(c *cli.Context) error {
			if c.Bool("losses-only") {
				return runAudit(c)
			}
			return runAuditFull(c) // audit_full.go: models, metrics, HTML (issue 7)
		},
	}
}

func runAudit(c *cli.Context) error {
	embPath, labPath := c.String("embeddings"), c.String("labels")
	if embPath == "" {
		return fmt.Errorf("--embeddings is required")
	}
	if labPath == "" {
		return fmt.Errorf("--labels is required with --embeddings")
	}
	specs := []string(*c.Generic("loss").(*specList))
	for _, sp := range specs {
		if _, err := losses.Parse(sp); err != nil {
			return fmt.Errorf("--loss: %w", err)
		}
	}
	switch p := c.String("precision"); p {
	case "", "float32", "float64":
	default:
		return fmt.Errorf("--precision %q: want float32 or float64", p)
	}
	jsonOut, perOut := c.String("json"), c.String("per-sample")
	if err := checkOutputs(output{"--json", jsonOut}, output{"--per-sample", perOut}); err != nil {
		return err
	}
	for _, out := range []struct{ flag, path string }{{"--json", jsonOut}, {"--per-sample", perOut}} {
		if out.path == "" || out.path == "-" {
			continue
		}
		for _, in := range []string{embPath, labPath} {
			if samePath(out.path, in) {
				return fmt.Errorf("%s %s: would overwrite the input file", out.flag, out.path)
			}
		}
	}
	x, err := pipeline.ReadNPY(embPath)
	if err != nil {
		return fmt.Errorf("--embeddings: %w", err)
	}
	labels, err := pipeline.ReadLabels(labPath)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	if len(labels.IDs) != x.Rows {
		return fmt.Errorf("--labels %s: %d labels but --embeddings %s has %d rows", labPath, len(labels.IDs), embPath, x.Rows)
	}
	// Open every output before the work: an unwritable path fails now.
	outs, err := createOutputs(c.App.Writer, output{"--json", jsonOut}, output{"--per-sample", perOut})
	if err != nil {
		return err
	}
	defer outs.abort()
	res, err := pipeline.AuditLosses(c.Context, x, labels.IDs, pipeline.LossAuditSettings{
		Specs: specs, PerSample: perOut != "", Precision: c.String("precision"),
	})
	if err != nil {
		return err
	}
	if f := outs.get("--per-sample"); f != nil {
		if err := res.WritePerSampleTo(f, rowNames(labels)); err != nil {
			return fmt.Errorf("--per-sample %s: %w", perOut, err)
		}
	}
	if f := outs.get("--json"); f != nil {
		if err := res.WriteJSON(f); err != nil {
			return fmt.Errorf("--json %s: %w", jsonOut, err)
		}
	}
	if err := outs.commit(); err != nil {
		return err
	}
	if outs.stdout() {
		return nil
	}
	return res.WriteTable(c.App.Writer)
}

func rowNames(l pipeline.Labels) []string {
	names := make([]string, len(l.IDs))
	for i, id := range l.IDs {
		names[i] = l.Names[id]
	}
	return names
}
