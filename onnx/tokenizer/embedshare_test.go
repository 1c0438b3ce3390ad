package tokenizer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/procstat"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
	"github.com/embfit/embfit/onnx/tokenizer"
)

// TestTokenizeShareOfEmbed measures what share of `embed` time goes to
// tokenizing for a MiniLM-sized model: onnxtest's MiniLM-L6-shaped BERT
// transformer (6 layers, hidden 384, 12 heads, seeded random weights; no
// real weights are reachable here) with MiniLM's real tokenizer.json.
// The budget is 5% of the embed time (CPU time for the tokenizer,
// single-threaded, against ONNX Runtime's session time).
func TestTokenizeShareOfEmbed(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: embeds 500 glosses through a MiniLM-shaped transformer")
	}
	mini, err := onnxtest.ReferenceTokenizer("all-minilm-l6-v2.json")
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	texts := firstGlosses(t, 500)
	dir := t.TempDir()
	if _, err := (onnxtest.Transformer{Tokenizer: mini, Seed: 1}).Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Init(); err != nil {
		t.Fatal(err)
	}
	enc, err := onnx.OpenEncoder(dir, onnx.EncoderSettings{BatchSize: 32, MaxLength: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dst := blas32.General{Rows: len(texts), Cols: enc.Dim(), Stride: enc.Dim(), Data: make([]float32, len(texts)*enc.Dim())}
	run0 := enc.RunTime()
	if err := enc.Encode(context.Background(), dst, texts); err != nil {
		t.Fatal(err)
	}
	embed := enc.RunTime() - run0

	tk, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cpu0, wall0 := procstat.CPUTime(), time.Now()
	tokens := 0
	for _, s := range texts {
		e, err := tk.EncodeText(s, 128)
		if err != nil {
			t.Fatal(err)
		}
		tokens += len(e.IDs)
	}
	tok, wall := procstat.CPUTime()-cpu0, time.Since(wall0)
	share := float64(tok) / float64(embed+tok)
	t.Logf("%d glosses, %d tokens: tokenizing %v CPU (%v wall), ONNX Runtime %v: tokenizing is %.2f%% of embed time", len(texts), tokens, tok, wall, embed, 100*share)
	if share > 0.05 {
		t.Errorf("tokenizing is %.1f%% of embed time, budget 5%%", 100*share)
	}
}

func firstGlosses(t *testing.T, n int) []string {
	f, err := os.Open(filepath.Join("..", "..", "data", "wordnet", "glosses.jsonl"))
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		var r struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Text)
	}
	return out
}

// TestIDsPastEmbeddingTable: a tokenizer whose ids reach past the model's
// embedding table is refused when the encoder opens, naming the file.
func TestIDsPastEmbeddingTable(t *testing.T) {
	dir := t.TempDir()
	w, err := (onnxtest.TokenModel{Seed: 1}).Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 22 rows (ids 0..21); add a word with id 40.
	b, err := os.ReadFile(w.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["model"].(map[string]any)["vocab"].(map[string]any)["zebra"] = 40
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(w.Tokenizer, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Init(); err != nil {
		t.Fatal(err)
	}
	_, err = onnx.OpenEncoder(dir, onnx.EncoderSettings{})
	want := w.Tokenizer + ": model.vocab: ids reach 40 but the embedding table of " + w.Model + " has 22 rows"
	if err == nil || err.Error() != want {
		t.Errorf("err %v\nwant %s", err, want)
	}
}

// TestPaddingSideFromTokenizer: a tokenizer.json that pads on the left
// (padding.direction "Left") makes the encoder pad on the left when no
// tokenizer_config.json or setting says otherwise.
func TestPaddingSideFromTokenizer(t *testing.T) {
	dir := t.TempDir()
	w, err := (onnxtest.TokenModel{Seed: 1}).Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(w.Tokenizer)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["padding"] = map[string]any{"direction": "Left", "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(w.Tokenizer, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ setting, want string }{{"", "left"}, {"right", "right"}} {
		p, _, err := onnx.Resolve(dir, onnx.EncoderSettings{PaddingSide: tc.setting})
		if err != nil {
			t.Fatal(err)
		}
		if p.PaddingSide.Value != tc.want {
			t.Errorf("setting %q: padding side %q from %q, want %q", tc.setting, p.PaddingSide.Value, p.PaddingSide.From, tc.want)
		}
	}
}
