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
	"strings"
	"syscall"

	"github.com/embfit/embfit/internal/inputerr"
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
			withEmbedShards(embedCommand()),
			auditCommand(),
			withMineTasks(mineCommand()),
			trainCommand(),
			exportCommand(),
			applyCommand(),
			quantizeCommand(),
		},
	}
	for _, cmd := range app.Commands {
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error { return nameFileFlag(c, action(c)) }
		}
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
	fmt.Fprintln(stderr, "embfit:", cliError(err))
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

// withHint appends hint to err when err is about setting and its text
// contains marker (a way out the library cannot know about: another flag
// or command).
func withHint(err error, setting, marker, hint string) error {
	if e, ok := inputerr.As(err); ok && e.Setting == setting && strings.Contains(e.Error(), marker) {
		return fmt.Errorf("%w; %s", err, hint)
	}
	return err
}

// settingFlags maps library setting names (snake_case, as in config.json
// and manifests) to this command line's flags where the two differ by more
// than '_' → '-'.
var settingFlags = map[string]string{
	"train_settings": "train",
}

// cliError rewrites a library error about a setting so that it names the
// flag ("--batch-size: …" for the setting batch_size); errors about files
// already name the file and line and stay as they are.
func cliError(err error) error {
	e, ok := inputerr.As(err)
	if !ok || e.Setting == "" || e.File != "" {
		return err
	}
	flag, ok := settingFlags[e.Setting]
	if !ok {
		flag = strings.ReplaceAll(e.Setting, "_", "-")
	}
	msg := err.Error()
	if own := e.Error(); strings.Contains(msg, own) { // own may be followed by a hint (withHint)
		i := strings.Index(msg, own)
		return fmt.Errorf("%s--%s%s", msg[:i], strings.Replace(own, e.Setting+": ", flag+": ", 1), msg[i+len(own):])
	}
	return fmt.Errorf("--%s: %w", flag, err)
}

// nameFileFlag prefixes a library error about an input file with the flag
// that gave that file ("--corpus-embeddings C.npy: 2 rows but …"), so the
// user sees which of their flags to fix.
func nameFileFlag(c *cli.Context, err error) error {
	e, ok := inputerr.As(err)
	if !ok || e.File == "" || strings.HasPrefix(err.Error(), "--") {
		return err
	}
	for _, name := range c.FlagNames() {
		if v := c.String(name); v != "" && v == e.File {
			return fmt.Errorf("--%s %w", name, err)
		}
	}
	return err
}
