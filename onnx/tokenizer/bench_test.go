package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/embfit/embfit/internal/procstat"
)

// glosses returns the text of every WordNet gloss (data/wordnet from
// make setup).
func glosses(t testing.TB) []string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "data", "wordnet", "glosses.jsonl")
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Text)
	}
	return out
}

// familyFiles are the reference files by family.
var familyFiles = []struct{ family, name string }{
	{"byte-level BPE (Llama-3)", "llama3"},
	{"byte-level BPE (Qwen3)", "qwen3"},
	{"byte-level BPE (Cohere)", "cohere"},
	{"WordPiece (MiniLM)", "all-minilm-l6-v2"},
	{"Unigram (WordNet XLM-R shape)", "wordnet-unigram"},
}

// BenchmarkGlosses tokenizes all 117,791 WordNet glosses per family.
func BenchmarkGlosses(b *testing.B) {
	texts := glosses(b)
	var bytes int64
	for _, s := range texts {
		bytes += int64(len(s))
	}
	for _, f := range familyFiles {
		b.Run(f.name, func(b *testing.B) {
			tk, err := Load(refPath(b, f.name))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := procstat.CPUTime()
			for i := 0; i < b.N; i++ {
				for _, s := range texts {
					if _, err := tk.EncodeText(s, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(procstat.CPUTime()-cpu0)/float64(b.N)/1e9, "cpu-s/op")
		})
	}
}

// TestGlossesSpeed checks the Llama-3 budget: all WordNet glosses in
// under 2 s (with the file already parsed and a cold merge cache). The
// budget is on the process's CPU time, which a loaded shared machine
// does not inflate the way it does wall time; both are logged.
func TestGlossesSpeed(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing test: not with -short or -race")
	}
	texts := glosses(t)
	tk, err := Load(refPath(t, "llama3"))
	if err != nil {
		t.Fatal(err)
	}
	start, cpu0 := time.Now(), procstat.CPUTime()
	n := 0
	for _, s := range texts {
		e, err := tk.EncodeText(s, 0)
		if err != nil {
			t.Fatal(err)
		}
		n += len(e.IDs)
	}
	wall, cpu := time.Since(start), procstat.CPUTime()-cpu0
	t.Logf("%d glosses, %d tokens: %v CPU, %v wall", len(texts), n, cpu, wall)
	if cpu > 2*time.Second {
		t.Errorf("tokenizing %d glosses took %v of CPU time, budget 2s", len(texts), cpu)
	}
}

// BenchmarkGlossesJS runs Hugging Face's JavaScript tokenizers (from make
// setup; Node.js) on the same glosses, for comparison in the same run. It
// reports the script's own timing of the encode loop (file parsing
// excluded, as in BenchmarkGlosses).
func BenchmarkGlossesJS(b *testing.B) {
	root := repoRoot(b)
	dist := filepath.Join(root, ".cache", "tokenizers", "hf-js", "dist", "tokenizers.mjs")
	if _, err := os.Stat(dist); err != nil {
		b.Fatalf("%v: run `make setup` first", err)
	}
	for _, f := range familyFiles {
		b.Run(f.name, func(b *testing.B) {
			var wall, cpu float64
			for i := 0; i < b.N; i++ {
				out, err := exec.Command("node", filepath.Join(root, "scripts", "tokref", "bench.mjs"), dist,
					filepath.Join(root, "data", "wordnet", "glosses.jsonl"), refPath(b, f.name)).Output()
				if err != nil {
					b.Fatalf("node: %v", err)
				}
				var r struct{ Wall, CPU float64 }
				var raw struct {
					WallS float64 `json:"wall_s"`
					CPUS  float64 `json:"cpu_s"`
				}
				if err := json.Unmarshal(out, &raw); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				r.Wall, r.CPU = raw.WallS, raw.CPUS
				wall += r.Wall
				cpu += r.CPU
			}
			b.ReportMetric(wall/float64(b.N), "js-wall-s/op")
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkSplitPattern compares the hand-written Llama-3 scanner with the
// regex engine on the same glosses (both give the same matches:
// TestScannerMatchesEngine).
func BenchmarkSplitPattern(b *testing.B) {
	texts := glosses(b)[:20000]
	var n int64
	for _, s := range texts {
		n += int64(len(s))
	}
	eng, err := compileEngine(llama3Patten)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct {
		name string
		pat  pattern
	}{{"scanner", knownScanners[llama3Patten]}, {"regexp2", eng}} {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(n)
			var dst [][2]int
			for i := 0; i < b.N; i++ {
				for _, s := range texts {
					dst = p.pat.findAll(s, dst[:0])
				}
			}
		})
	}
}
