package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/urfave/cli/v2"
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:  "apply",
		Usage: "re-project stored embeddings through a trained head.onnx",
		Description: "Runs RUN/head.onnx in ONNX Runtime on every row of --embeddings (float32 .npy [N,D]) and writes\n" +
			"the result to --out (.npy [N,D']), exactly what the head computes inside merged.onnx before its\n" +
			"L2 normalization. The sidecar X.ids.jsonl, when there is one, is copied to OUT.ids.jsonl.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "head", Usage: "the head `RUN/head.onnx`"},
			&cli.StringFlag{Name: "embeddings", Usage: "input `X.npy`"},
			&cli.StringFlag{Name: "out", Usage: "output `Y.npy`"},
			&cli.IntFlag{Name: "batch-size", Value: 4096, Usage: "rows per ONNX Runtime call"},
		},
		Action: func(c *cli.Context) error {
			for _, f := range []string{"head", "embeddings", "out"} {
				if c.String(f) == "" {
					return fmt.Errorf("--%s is required", f)
				}
			}
			in, out := c.String("embeddings"), c.String("out")
			if samePath(in, out) {
				return fmt.Errorf("--out %s would overwrite --embeddings", out)
			}
			bs := c.Int("batch-size")
			if bs <= 0 {
				return fmt.Errorf("--batch-size %d must be positive", bs)
			}
			x, err := dataio.ReadNPY(in)
			if err != nil {
				return fmt.Errorf("--embeddings: %w", err)
			}
			enc, err := onnx.OpenEncoder(c.String("head"), onnx.EncoderSettings{BatchSize: bs})
			if err != nil {
				return fmt.Errorf("--head: %w", err)
			}
			defer enc.Close()
			if enc.IsText() {
				return fmt.Errorf("--head %s takes token ids: give a head.onnx (float input [batch,D])", c.String("head"))
			}
			dims := enc.Info().Inputs[0].Dims
			if len(dims) != 2 || dims[1].Param != "" || dims[1].Value != int64(x.Cols) {
				return fmt.Errorf("--head %s does not take rows of width %d (--embeddings %s)", c.String("head"), x.Cols, in)
			}
			y := linalg.NewMatrix(x.Rows, enc.Dim())
			for i := 0; i < x.Rows; i += bs {
				j := min(i+bs, x.Rows)
				if err := enc.EncodeFloats(c.Context, linalg.Slice(y, i, j), linalg.Slice(x, i, j), []int64{int64(x.Cols)}); err != nil {
					return err
				}
			}
			if err := dataio.WriteNPY(out, y); err != nil {
				return err
			}
			if b, err := os.ReadFile(dataio.SidecarPath(in)); err == nil {
				if err := atomicfile.WriteFile(dataio.SidecarPath(out), b); err != nil {
					return err
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			fmt.Printf("wrote %s (%d×%d)\n", out, y.Rows, y.Cols)
			return nil
		},
	}
}
