package job

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadJob checks that no RUN/config.json makes LoadJob or resolving
// its settings panic, and that an accepted job survives a JSON round trip.
func FuzzLoadJob(f *testing.F) {
	j := TrainJob{Model: "/m/model.onnx", Train: "/d/train.jsonl", Dev: "/d/dev.jsonl", MaxLength: 256, DataSHA256: map[string]string{"train": "ab"}, Typed: map[string]string{"train": "train.jsonl"}}
	j.Settings.Head.In = 100
	j.Settings.Losses = []string{"infonce", "0.5*triplet:margin=0.2"}
	b, _ := json.Marshal(j)
	f.Add(b)
	f.Add([]byte(`{"train_settings":{"epochs":-1,"batch_size":1e300,"head":{"kind":"mlp","in":-5}}}`))
	f.Add([]byte(`{"model":null,"train_settings":{"optimizer":{"lr":"x"}}}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := LoadJob(dir)
		if err != nil {
			return
		}
		if s, err := j.Settings.WithDefaults(); err == nil {
			parseLosses(s.Losses)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return // NaN cannot come from JSON; other marshal errors are not ours
		}
		var back TrainJob
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}
