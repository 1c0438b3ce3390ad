// Command trainloop times embfit's training loop on a job dumped by
// `embfit train --dump-job DIR ...` (the developer benchmark
// against scripts/bench/torch_train.py; see scripts/bench/train_vs_torch.sh).
//
//	go run ./scripts/bench/trainloop -dump DIR [-hidden H] [-out DIR2]
//
// It rebuilds the Trainer from DIR (embeddings, training pairs with their
// negatives, dev set, settings), optionally with another MLP hidden width,
// checks that it draws exactly the dumped batches, writes the job as run
// to -out (for the PyTorch reference) and runs it: the time printed is
// Trainer.Run's, the frozen-encoder and per-epoch dev evaluations
// included, as `embfit train` reports it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/embfit/embfit/losses"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/job"
	"github.com/embfit/embfit/pipeline/train"
)

type dump struct {
	Settings train.Settings `json:"settings"`
	Losses   []string       `json:"losses"`
	Pairs    [][]int        `json:"pairs"`
	Epochs   [][][3][]int   `json:"epochs"`
	Dev      *struct {
		Queries   []int   `json:"queries"`
		Corpus    []int   `json:"corpus"`
		Positives [][]int `json:"positives"`
		Self      []int   `json:"self"`
	} `json:"dev"`
}

func main() {
	dir := flag.String("dump", "", "directory written by embfit train --dump-job")
	hidden := flag.Int("hidden", 0, "MLP hidden width (0: as dumped)")
	out := flag.String("out", "", "write the job as run here (for torch_train.py)")
	mat := flag.String("matryoshka", "", "train with these Matryoshka widths (e.g. 25,50,100)")
	kind := flag.String("kind", "", "head kind (default: as dumped)")
	mw := flag.String("matryoshka-weights", "", "weights of the Matryoshka widths")
	widths := flag.String("widths", "", "after training, report the best head's dev metrics at these prefix widths")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of the training loop here")
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "trainloop:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*dir, *kind, *hidden, *out, ints(*mat), floats(*mw), ints(*widths)); err != nil {
		fmt.Fprintln(os.Stderr, "trainloop:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func ints(s string) []int {
	var v []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			v = append(v, n)
		}
	}
	return v
}

func floats(s string) []float64 {
	var v []float64
	for _, f := range strings.Split(s, ",") {
		if x, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			v = append(v, x)
		}
	}
	return v
}

func run(dir, kind string, hidden int, out string, mat []int, mw []float64, widths []int) error {
	b, err := os.ReadFile(filepath.Join(dir, "job.json"))
	if err != nil {
		return err
	}
	var d dump
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "job.json"), err)
	}
	emb, err := dataio.ReadNPY(filepath.Join(dir, "emb.npy"))
	if err != nil {
		return err
	}
	s := d.Settings
	if hidden > 0 {
		s.Head.Hidden = hidden
	}
	if kind != "" {
		s.Head.Kind = kind
		if kind != "mlp" {
			s.Head.Hidden = 0
		}
	}
	s.Matryoshka, s.MatryoshkaWeights = mat, mw
	var ws []train.WeightedLoss
	for _, spec := range d.Losses {
		w, name, err := train.SplitLossWeight(spec)
		if err != nil {
			return err
		}
		l, err := losses.Parse(name)
		if err != nil {
			return err
		}
		ws = append(ws, train.WeightedLoss{Spec: spec, Weight: w, Loss: l})
	}
	rows := make([]train.PairRow, len(d.Pairs))
	for i, p := range d.Pairs {
		rows[i] = train.PairRow{Anchor: p[0], Positive: p[1], Negatives: p[2:]}
	}
	tr := &train.Trainer{Settings: s, Losses: ws, Data: train.Data{Emb: emb, Pairs: rows}}
	if d.Dev != nil {
		tr.Dev = &train.EvalSet{Emb: emb, Queries: d.Dev.Queries, Corpus: d.Dev.Corpus, Positives: d.Dev.Positives, Self: d.Dev.Self}
	}
	if out != "" {
		if err := job.WriteDump(out, tr); err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(out, "job.json"))
		if err != nil {
			return err
		}
		var d2 dump
		if err := json.Unmarshal(b, &d2); err != nil {
			return err
		}
		if !reflect.DeepEqual(d2.Epochs, d.Epochs) {
			return fmt.Errorf("the rebuilt trainer draws other batches than %s holds", dir)
		}
	}
	var first float64
	tr.Progress = func(p train.Progress) {
		if p.Epoch == 1 && p.Step == 1 && !p.EpochDone {
			first = p.Loss
		}
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	res, err := tr.Run(context.Background())
	if err != nil {
		return err
	}
	sec := time.Since(t0).Seconds()
	cpu := cpuSeconds() - cpu0
	var dev []float64
	for _, h := range res.History {
		if h.Dev != nil {
			dev = append(dev, h.Dev.MAPAtR)
		}
	}
	byWidth := map[string]float64{}
	if len(widths) > 0 && tr.Dev != nil {
		ms, err := tr.Dev.EvaluateWidths(context.Background(), res.Head, widths)
		if err != nil {
			return err
		}
		for k, w := range widths {
			byWidth[strconv.Itoa(w)] = ms[k].MAPAtR
		}
	}
	enc, _ := json.Marshal(map[string]any{"best_dev_map_at_r_by_width": byWidth, "matryoshka": mat, "matryoshka_weights": mw, "kind": s.Head.Kind, "seconds": sec, "steps": res.History[len(res.History)-1].Steps,
		"first_batch_loss": first, "dev_map_at_r": dev, "best_epoch": res.BestEpoch, "hidden": s.Head.Hidden,
		"gomaxprocs": runtime.GOMAXPROCS(0), "cpu_seconds": cpu})
	fmt.Println(string(enc))
	return nil
}

// cpuSeconds is the process's user + system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
