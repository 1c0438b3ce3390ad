package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/internal/procstat"
	"github.com/embfit/embfit/pipeline/shard"
)

// withMineTasks adds `embfit mine plan|run|merge` to the mine command:
// mining split into tasks that any batch scheduler can run. The plan takes
// mine's own flags.
func withMineTasks(mine *cli.Command) *cli.Command {
	mine.Subcommands = mineTaskCommands(mine.Flags)
	return mine
}

func mineTaskCommands(mineFlags []cli.Flag) []*cli.Command {
	planFlags := append([]cli.Flag{
		&cli.IntFlag{Name: "task-queries", Value: 1 << 16, Usage: "queries per task (a query block)"},
		&cli.IntFlag{Name: "shards", Value: 1, Usage: "corpus shards per query block"},
		&cli.StringFlag{Name: "partials", Usage: "`DIR` for the tasks' partials (default: the plan file + .partials)"},
	}, mineFlags...)
	return []*cli.Command{
		{
			Name:      "plan",
			Usage:     "split a mining job into tasks (query blocks × corpus shards) and write the plan",
			UsageText: "embfit mine plan --pairs P --corpus C --query-embeddings Q.npy --corpus-embeddings C.npy [mine options] [--task-queries 65536] [--shards N] --out plan.json",
			Description: "Takes the options of `embfit mine` (pairs mode with precomputed embeddings; --out is the plan file)\n" +
				"and writes a JSON plan: the inputs with their sha256, every setting, and the tasks, each a block of\n" +
				"--task-queries queries × one of --shards contiguous corpus shards, with the sha256 of the embedding\n" +
				"rows it reads. Run every task with `embfit mine run --plan plan.json --task I` (anywhere that sees the\n" +
				"same files), then `embfit mine merge --plan plan.json --out neg.jsonl`: the output and its manifest\n" +
				"are byte-identical to `embfit mine` with the same options.",
			Flags:  planFlags,
			Action: runMinePlan,
		},
		{
			Name:      "run",
			Usage:     "run one task of a mining plan and write its partial",
			UsageText: "embfit mine run --plan plan.json --task I",
			Description: "Writes the task's partial (per query, the exact top --range-max candidates of its corpus shard with\n" +
				"float64 scores, and the scores of the positives in the shard) into the plan's partials folder, to a\n" +
				"temporary name renamed when complete: a task can be retried or run twice. It reads only its own\n" +
				"rows of the embeddings and of the plan's text-ids file, which must still have the plan's sha256.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "plan", Usage: "plan `FILE` written by embfit mine plan"},
				&cli.IntFlag{Name: "task", Value: -1, Usage: "task index `I`, 0 to tasks-1 (e.g. $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID)"},
			},
			Action: runMineTask,
		},
		{
			Name:      "merge",
			Usage:     "merge the partials of a mining plan into the output of embfit mine",
			UsageText: "embfit mine merge --plan plan.json --out neg.jsonl",
			Description: "Streams each query block's partials through a k-way merge, then applies the rank window, filters,\n" +
				"sampling and output format exactly as `embfit mine`, writing --out and --out.manifest.json (both or\n" +
				"neither). Every partial must match its task in the plan (inputs' sha256 included).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "plan", Usage: "plan `FILE` written by embfit mine plan"},
				&cli.StringFlag{Name: "out", Usage: "output `FILE` (JSONL); the manifest goes to FILE.manifest.json"},
			},
			Action: runMineMerge,
		},
	}
}

func runMinePlan(c *cli.Context) error {
	j, err := parseMineFlags(c)
	if err != nil {
		return err
	}
	switch {
	case j.Pairs == "":
		return fmt.Errorf("--pairs: sharded mining supports pairs mode only (not --labelled)")
	case j.QueryEmbeddings == "":
		return fmt.Errorf("--query-embeddings: sharded mining needs precomputed embeddings (embfit embed --shard, then embfit embed concat), not --model")
	case c.Int("task-queries") < 1:
		return fmt.Errorf("--task-queries %d: must be at least 1", c.Int("task-queries"))
	case c.Int("shards") < 1:
		return fmt.Errorf("--shards %d: must be at least 1", c.Int("shards"))
	}
	p, err := shard.MakePlan(c.Context, shard.PlanSettings{
		Pairs: j.Pairs, Corpus: j.Corpus, QueryEmbeddings: j.QueryEmbeddings, CorpusEmbeddings: j.CorpusEmbeddings,
		AnchorField: j.AnchorField, PositiveField: j.PositiveField, TextField: j.TextField,
		Settings: j.Settings, Format: j.Format, TaskQueries: c.Int("task-queries"), Shards: c.Int("shards"), Partials: c.String("partials"),
	})
	if err != nil {
		return err
	}
	if err := p.Write(j.Out); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "plan %s: %d tasks (%d query blocks × %d corpus shards) over %d queries × %d corpus rows; partials in %s\n",
		j.Out, len(p.Tasks), len(p.Tasks)/p.Shards, p.Shards, p.Queries, p.Corpus, p.PartialsDir())
	return nil
}

// openPlan reads --plan and opens its inputs.
func openPlan(c *cli.Context) (*shard.Plan, *shard.Inputs, error) {
	if err := requireFlags(c, "plan"); err != nil {
		return nil, nil, err
	}
	p, err := shard.ReadPlan(c.String("plan"))
	if err != nil {
		return nil, nil, fmt.Errorf("--plan: %w", err)
	}
	in, err := shard.OpenInputs(p)
	if err != nil {
		return nil, nil, err
	}
	return p, in, nil
}

func runMineTask(c *cli.Context) error {
	start := time.Now()
	if !c.IsSet("task") {
		return fmt.Errorf("missing flag --task (see embfit mine run --help)")
	}
	p, in, err := openPlan(c)
	if err != nil {
		return err
	}
	defer in.Close()
	i := c.Int("task")
	if i < 0 || i >= len(p.Tasks) {
		return fmt.Errorf("--task %d: the plan has tasks 0 to %d", i, len(p.Tasks)-1)
	}
	if err := in.RunTask(c.Context, i); err != nil {
		return err
	}
	t := p.Tasks[i]
	fmt.Fprintf(c.App.Writer, "task %d: queries [%d,%d) × corpus [%d,%d) → %s in %s (peak RSS %.1f MiB)\n",
		i, t.Q0, t.Q1, t.C0, t.C1, p.PartialPath(i), time.Since(start).Round(time.Millisecond), float64(procstat.PeakRSS())/(1<<20))
	return nil
}

func runMineMerge(c *cli.Context) error {
	start := time.Now()
	if err := requireFlags(c, "plan", "out"); err != nil {
		return err
	}
	out := c.String("out")
	if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: folder %s does not exist", out, filepath.Dir(out))
	}
	if err := requireFlags(c, "plan"); err != nil {
		return err
	}
	p, err := shard.ReadPlan(c.String("plan"))
	if err != nil {
		return fmt.Errorf("--plan: %w", err)
	}
	for _, inp := range p.Inputs {
		for _, o := range []string{out, out + ".manifest.json"} {
			if samePath(o, inp.Path) {
				return fmt.Errorf("--out %s: would overwrite the input file %s", out, inp.Path)
			}
		}
	}
	res, err := shard.Merge(c.Context, p, out)
	if err != nil {
		return err
	}
	ct := res.Mined.Counts
	fmt.Fprintf(c.App.Writer, "merged %d tasks: %d queries × %d corpus rows, %d negatives (%d queries short of %d); %d %s rows → %s in %s (peak RSS %.1f MiB)\n",
		len(p.Tasks), ct.Queries, ct.Corpus, ct.Negatives, ct.QueriesShort, p.Settings.NumNegatives, res.Manifest.Output.Rows, p.Format, out,
		time.Since(start).Round(time.Millisecond), float64(procstat.PeakRSS())/(1<<20))
	return nil
}
