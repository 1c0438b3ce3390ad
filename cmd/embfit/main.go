// Command embfit fine-tunes, mines and audits ONNX embedding models.
// See README.md. This package only parses flags and wires packages together.
//
// Conventions for every command: errors are returned (wrapped with the
// file and line, or the flag, they concern) and printed by main as one
// line "embfit: ..." on standard error; exit status 2 for any error
// (bad input, bad flags, unreadable or unwritable files, a model that
// cannot be used), 130 when interrupted (SIGINT/SIGTERM cancel
// c.Context; commands stop at the next batch and leave no partial output).
// Progress and warnings go to standard error, results to standard output
// or to files written atomically.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	restore := interruptibleStdin(ctx)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	restore()
	stop()
	os.Exit(code)
}

// exitInterrupted is the exit status after SIGINT/SIGTERM (128 + SIGINT).
const exitInterrupted = 130

// run runs the app and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:  "embfit",
		Usage: "make pretrained ONNX embedding models better on your own data",
		// Errors are printed once, by run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			// Each command lives in its own file (cmd_<name>.go).
			inspectCommand(),
			tokenizeCommand(),
			embedCommand(),
			auditCommand(),
			mineCommand(),
			trainCommand(),
			exportCommand(),
		},
	}
	guardCommands(app.Commands, "tokenize")
	app.Writer, app.ErrWriter = stdout, stderr
	app.OnUsageError = func(c *cli.Context, err error, isSubcommand bool) error {
		return fmt.Errorf("%w (see --help)", err)
	}
	err := app.RunContext(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		fmt.Fprintln(stderr, "embfit: interrupted")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "embfit:", err)
	return 2
}

// requireFlags returns a one-line error naming the first of names that
// was not given on the command line. Use it instead of cli's Required,
// which prints the whole help text before the error.
func requireFlags(c *cli.Context, names ...string) error {
	for _, n := range names {
		if !c.IsSet(n) || c.String(n) == "" {
			return fmt.Errorf("missing flag --%s (see embfit %s --help)", n, c.Command.Name)
		}
	}
	return nil
}
