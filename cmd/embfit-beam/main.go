// Command embfit-beam runs embfit's sharded embedding and mining on
// Apache Beam: `embfit-beam embed` (one element per shard of the input's
// rows) and `embfit-beam mine` (one element per task of a plan written by
// `embfit mine plan`), on Prism (local), a universal job server, Flink or
// Dataflow (--runner). Its DoFns are thin wrappers over the same task
// functions as `embfit embed --shard` and `embfit mine run|merge`
// (package pipeline/shard), so the outputs are byte-identical to those of
// one machine.
//
// It is its own Go module so that Beam's dependencies stay out of the
// embfit binary. Workers need cgo (OpenBLAS, ONNX Runtime): unless
// --worker_binary is given, the running executable is the worker binary
// (the SDK would otherwise rebuild one with CGO_ENABLED=0). When a runner
// starts it as a PROCESS environment command (with boot arguments such as
// --provision_endpoint), it starts the worker harness itself, stripping
// the literal quotes Prism v2.78.0 puts around --id.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
)

const usage = `usage:
  embfit-beam embed --model M --input data.jsonl --shards N --out emb.npy [--field text] [--pooling mean] [--normalize] [--batch-size 64] [--max-length 256] [beam options]
  embfit-beam mine  --plan plan.json --out neg.jsonl [beam options]
beam options: --runner prism|universal|flink|dataflow, --endpoint HOST:PORT, --environment_type LOOPBACK|PROCESS|DOCKER,
  --environment_config, --worker_binary (default: this executable), and the runner's own flags (see -help).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if isBoot(args) {
		// Started by a runner as a PROCESS environment: become the worker.
		wargs, err := bootToWorker(ctx, args)
		if err != nil {
			fmt.Fprintln(os.Stderr, "embfit-beam: worker boot:", err)
			return 2
		}
		os.Args = append(os.Args[:1], wargs...)
		flag.Parse()
		beam.Init() // runs the harness and exits
		return 0
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// Worker mode (--worker) or help.
		flag.Parse()
		beam.Init()
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	cmd := args[0]
	var job func(s beam.Scope) error
	switch cmd {
	case "embed":
		e := &embedJob{}
		e.flags(flag.CommandLine)
		job = e.build
		flag.CommandLine.Parse(args[1:])
		if err := e.check(); err != nil {
			fmt.Fprintln(os.Stderr, "embfit-beam embed:", err)
			return 2
		}
	case "mine":
		m := &mineJob{}
		m.flags(flag.CommandLine)
		job = m.build
		flag.CommandLine.Parse(args[1:])
		if err := m.check(); err != nil {
			fmt.Fprintln(os.Stderr, "embfit-beam mine:", err)
			return 2
		}
	default:
		fmt.Fprintf(os.Stderr, "embfit-beam: unknown command %q\n%s\n", cmd, usage)
		return 2
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "embfit-beam %s: unexpected argument %q\n", cmd, flag.Arg(0))
		return 2
	}
	if err := defaultWorkerBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "embfit-beam:", err)
		return 2
	}
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	if err := job(s); err != nil {
		fmt.Fprintf(os.Stderr, "embfit-beam %s: %v\n", cmd, err)
		return 2
	}
	if err := beamx.Run(ctx, p); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "embfit-beam: interrupted")
			return 130
		}
		fmt.Fprintf(os.Stderr, "embfit-beam %s: %v\n", cmd, err)
		return 2
	}
	return 0
}

// defaultWorkerBinary sets --worker_binary to the running executable
// when it is not given, so that workers keep cgo.
func defaultWorkerBinary() error {
	if *jobopts.WorkerBinary != "" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--worker_binary: cannot find the running executable: %w", err)
	}
	*jobopts.WorkerBinary = exe
	return nil
}

// isBoot reports whether args are a runner's boot arguments (a PROCESS
// environment command gets --id, --provision_endpoint, --control_endpoint,
// --logging_endpoint, --artifact_endpoint) rather than a worker's.
func isBoot(args []string) bool {
	boot, worker := false, false
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--provision_endpoint"), strings.HasPrefix(a, "-provision_endpoint"):
			boot = true
		case a == "--worker" || strings.HasPrefix(a, "--worker="):
			worker = true
		}
	}
	return boot && !worker
}

// bootToWorker does what the SDK's container boot program does for a
// worker binary that is already in place: it asks the provision service
// (--provision_endpoint) for the control and logging endpoints and the
// pipeline options (passed on through PIPELINE_OPTIONS_FILE), and returns
// the worker harness's arguments, with --id stripped of the literal
// quotes Prism v2.78.0's PROCESS environment puts around it.
func bootToWorker(ctx context.Context, args []string) ([]string, error) {
	var id, prov, semi string
	for _, a := range args {
		k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			continue
		}
		switch k {
		case "id":
			id = stripQuotes(v)
		case "provision_endpoint":
			prov = v
		case "semi_persist_dir":
			semi = v
		}
	}
	info, err := tools.ProvisionInfo(grpcx.WriteWorkerID(ctx, id), prov)
	if err != nil {
		return nil, fmt.Errorf("provision service %s: %w", prov, err)
	}
	options, err := tools.ProtoToJSON(info.GetPipelineOptions())
	if err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	// The harness reads them from PIPELINE_OPTIONS_FILE (the SDK's helper
	// would write it into the working folder).
	f, err := os.CreateTemp("", "embfit-beam-options-*.json")
	if err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	_, err = f.WriteString(options)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	os.Setenv("PIPELINE_OPTIONS_FILE", f.Name())
	if caps := info.GetRunnerCapabilities(); len(caps) > 0 {
		os.Setenv("RUNNER_CAPABILITIES", strings.Join(caps, " "))
	}
	if ep := info.GetStatusEndpoint().GetUrl(); ep != "" {
		os.Setenv("STATUS_ENDPOINT", ep)
	}
	out := []string{"--worker=true", "--id=" + id,
		"--logging_endpoint=" + info.GetLoggingEndpoint().GetUrl(), "--control_endpoint=" + info.GetControlEndpoint().GetUrl()}
	if semi != "" {
		out = append(out, "--semi_persist_dir="+semi)
	}
	return out, nil
}

// stripQuotes removes one pair of matching quotes around v.
func stripQuotes(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
