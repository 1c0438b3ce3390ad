package main

import (
	"errors"
	"fmt"

	"github.com/embfit/embfit/pipeline/job"
	"github.com/urfave/cli/v2"
)

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "re-export RUN/head.onnx, RUN/merged.onnx and RUN/tokenizer.json from a training run",
		Description: "Rebuilds the ONNX files of a run from its config.json and last checkpoint (the best epoch's\n" +
			"head): head.onnx (input \"input\" [batch,D], output \"embedding\") and merged.onnx (the encoder's\n" +
			"inputs, pooling + head + L2 normalization appended, output \"embedding\").",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "run", Usage: "training run `RUN/`"},
			&cli.IntFlag{Name: "dim", Usage: "write RUN/head-D.onnx and RUN/merged-D.onnx with the output cut to its first `D` columns (a Matryoshka width)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("run")
			if dir == "" {
				return fmt.Errorf("--run is required")
			}
			j, h, err := job.LoadRunHead(dir)
			if err != nil {
				return fmt.Errorf("--run: %w", err)
			}
			lock, err := job.LockRunDir(dir, false)
			if err != nil {
				return fmt.Errorf("--run %w", err)
			}
			defer lock.Unlock()
			if err := j.CheckModel(); err != nil {
				return fmt.Errorf("--run %s: the encoder %v; export needs the encoder the head was trained on", dir, errors.Unwrap(err))
			}
			if done, epoch, step, err := job.RunState(dir); err == nil && !done {
				fmt.Fprintf(c.App.ErrWriter, "embfit: warning: --run %s: training is not finished (stopped in epoch %d at step %d); exporting the best epoch so far (finish it with embfit train --resume %s)\n", dir, epoch, step, dir)
			}
			if d := c.Int("dim"); d != 0 {
				if err := job.ExportWidth(dir, j, h, d); err != nil {
					return err
				}
				fmt.Printf("wrote %s/head-%d.onnx (%s head %d→%d)\n", dir, d, h.Settings().Kind, h.Settings().In, d)
				return nil
			}
			if err := job.ExportRun(dir, j, h); err != nil {
				return err
			}
			files := "head.onnx and " + dir + "/merged.onnx"
			if j.Model == "" {
				files = "head.onnx (no encoder: no merged.onnx)"
			}
			fmt.Printf("wrote %s/%s (%s head %d→%d)\n", dir, files, h.Settings().Kind, h.Settings().In, h.Settings().Out)
			return nil
		},
	}
}
