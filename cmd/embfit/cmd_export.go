package main

import (
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
