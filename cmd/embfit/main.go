// Command embfit fine-tunes, mines and audits ONNX embedding models.
// See README.md. This package only parses flags and wires packages together.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{
		Name:     "embfit",
		Usage:    "make pretrained ONNX embedding models better on your own data",
		Commands: []*cli.Command{
			// Each command lives in its own file (cmd_<name>.go).
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "embfit:", err)
		os.Exit(2)
	}
}
