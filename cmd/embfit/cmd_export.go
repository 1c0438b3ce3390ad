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
			if err := job.ExportRun(dir, j, h); err != nil {
				return err
			}
			fmt.Printf("wrote %s/head.onnx and %s/merged.onnx (%s head %d→%d)\n", dir, dir, h.Settings().Kind, h.Settings().In, h.Settings().Out)
			return nil
		},
	}
}
