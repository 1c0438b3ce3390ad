package mining

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas32"
)

// outputFixture mines two queries: "q1 <&>" (HTML characters must stay
// unescaped) with two positives, and "q2" with one.
func outputFixture(t *testing.T) (*Problem, *Mined) {
	t.Helper()
	p := &Problem{
		Queries: blas32.General{Rows: 2, Cols: 2, Stride: 2, Data: []float32{1, 0, 0, 1}},
		Corpus: blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: []float32{
			1, 0, 0.5, 0, 0.25, 0, 0, 1}},
		QueryText:  []string{"q1 <&>", "q2"},
		CorpusText: []string{"p1", "p2 \"quoted\"", "n1", "p3"},
		Positives:  [][]int{{0, 1}, {3}},
	}
	// q1 keeps n1 and p3 (scores .25 and 0); q2's candidates, rows 0..2,
	// all score 0 and the tie goes to the lower rows p1 and p2.
	m, err := Mine(context.Background(), *p, Settings{NumNegatives: 2, MaxScore: ptr(0.3), MinScore: ptr(-0.5)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func TestWriteJSONL(t *testing.T) {
	p, m := outputFixture(t)
	for _, tc := range []struct {
		format  string
		want    []string
		skipped int
	}{
		{"triplet", []string{
			`{"anchor":"q1 <&>","positive":"p1","negative":"n1"}`,
			`{"anchor":"q1 <&>","positive":"p1","negative":"p3"}`,
			`{"anchor":"q1 <&>","positive":"p2 \"quoted\"","negative":"n1"}`,
			`{"anchor":"q1 <&>","positive":"p2 \"quoted\"","negative":"p3"}`,
			`{"anchor":"q2","positive":"p3","negative":"p1"}`,
			`{"anchor":"q2","positive":"p3","negative":"p2 \"quoted\""}`,
		}, 0},
		{"n-tuple", []string{
			`{"anchor":"q1 <&>","positive":"p1","negative_1":"n1","negative_2":"p3"}`,
			`{"anchor":"q1 <&>","positive":"p2 \"quoted\"","negative_1":"n1","negative_2":"p3"}`,
			`{"anchor":"q2","positive":"p3","negative_1":"p1","negative_2":"p2 \"quoted\""}`,
		}, 0},
		{"n-tuple-scores", []string{
			`{"anchor":"q1 <&>","positive":"p1","negative_1":"n1","negative_2":"p3","scores":[1,0.25,0]}`,
			`{"anchor":"q1 <&>","positive":"p2 \"quoted\"","negative_1":"n1","negative_2":"p3","scores":[0.5,0.25,0]}`,
			`{"anchor":"q2","positive":"p3","negative_1":"p1","negative_2":"p2 \"quoted\"","scores":[1,0,0]}`,
		}, 0},
		{"labeled-pair", []string{
			`{"text1":"q1 <&>","text2":"p1","label":1}`,
			`{"text1":"q1 <&>","text2":"p2 \"quoted\"","label":1}`,
			`{"text1":"q1 <&>","text2":"n1","label":0}`,
			`{"text1":"q1 <&>","text2":"p3","label":0}`,
			`{"text1":"q2","text2":"p3","label":1}`,
			`{"text1":"q2","text2":"p1","label":0}`,
			`{"text1":"q2","text2":"p2 \"quoted\"","label":0}`,
		}, 0},
		// sentence-transformers' labeled-list: per query and positive, the
		// positive then the negatives in rank order, labels 1 then 0s.
		{"labeled-list", []string{
			`{"anchor":"q1 <&>","positive":["p1","n1","p3"],"labels":[1,0,0]}`,
			`{"anchor":"q1 <&>","positive":["p2 \"quoted\"","n1","p3"],"labels":[1,0,0]}`,
			`{"anchor":"q2","positive":["p3","p1","p2 \"quoted\""],"labels":[1,0,0]}`,
		}, 0},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			info, err := WriteJSONL(&buf, tc.format, p, m)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if info.Rows != len(tc.want) || info.SkippedShort != tc.skipped {
				t.Errorf("info = %+v", info)
			}
			for _, line := range got {
				if !json.Valid([]byte(line)) {
					t.Errorf("invalid JSON: %s", line)
				}
			}
		})
	}
}

func TestWriteJSONLSkipsShortNTuples(t *testing.T) {
	p, m := outputFixture(t)
	m.Results[1].Negatives = m.Results[1].Negatives[:1]
	var buf bytes.Buffer
	info, err := WriteJSONL(&buf, "n-tuple", p, m)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 2 || info.SkippedShort != 1 || strings.Contains(buf.String(), `"q2"`) {
		t.Fatalf("info %+v, output:\n%s", info, buf.String())
	}
	if _, err := WriteJSONL(&buf, "csv", p, m); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestWriteJSONLLabeledListShort(t *testing.T) {
	p, m := outputFixture(t)
	m.Results[0].Negatives = m.Results[0].Negatives[:1] // fewer than num_negatives: still written
	m.Results[1].Negatives = nil                        // none: left out
	var buf bytes.Buffer
	info, err := WriteJSONL(&buf, "labeled-list", p, m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"anchor":"q1 <&>","positive":["p1","n1"],"labels":[1,0]}` + "\n" +
		`{"anchor":"q1 <&>","positive":["p2 \"quoted\"","n1"],"labels":[1,0]}` + "\n"
	if buf.String() != want || info.Rows != 2 || info.SkippedShort != 1 {
		t.Fatalf("info %+v, output:\n%s", info, buf.String())
	}
}

func TestCheckOutput(t *testing.T) {
	for _, tc := range []struct {
		format  string
		include bool
		want    string
	}{
		{"triplet", false, ""},
		{"labeled-list", false, ""},
		{"n-tuple", true, ""},
		{"n-tuple-scores", true, ""},
		{"triplet", true, "include_positives: needs output format n-tuple or n-tuple-scores, not triplet"},
		{"labeled-list", true, "include_positives: needs output format n-tuple or n-tuple-scores, not labeled-list"},
		{"csv", false, `unknown output format "csv" (want triplet, n-tuple, n-tuple-scores, labeled-pair or labeled-list)`},
	} {
		err := CheckOutput(tc.format, Settings{IncludePositives: tc.include})
		if got := fmt.Sprint(err); tc.want == "" && err != nil || tc.want != "" && got != tc.want {
			t.Errorf("CheckOutput(%s, include %t) = %v, want %q", tc.format, tc.include, err, tc.want)
		}
	}
}

func TestWriteOutputs(t *testing.T) {
	p, m := outputFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "neg.jsonl")
	man, err := WriteOutputs(out, "triplet", true, p, m, Manifest{Command: "embfit mine", Mode: "pairs", ModelSHA256: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Output.Rows != 6 || back.Counts.Negatives != 4 || back.Settings.NumNegatives != 2 || *back.Settings.MaxScore != 0.3 || back.ModelSHA256 != "abc" || back.PositiveScores.Count != 3 {
		t.Fatalf("manifest round trip: %+v", back)
	}
	if !reflect.DeepEqual(back, man) {
		t.Fatalf("returned manifest differs from written one")
	}
	// No clobbering, and a failed write leaves no file behind.
	if _, err := WriteOutputs(out, "triplet", true, p, m, Manifest{}); err == nil {
		t.Fatal("overwrote an existing output with noClobber")
	}
	other := filepath.Join(dir, "other.jsonl")
	if _, err := WriteOutputs(other, "bogus", false, p, m, Manifest{}); err == nil {
		t.Fatal("bogus format accepted")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %d entries, want the 2 committed files", len(entries))
	}
}
