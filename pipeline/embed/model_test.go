package embed

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/onnxtest"
)

// stageLog records the progress reports of a Model.
// stageLog records the progress reports of one test.
type stageLog struct {
	stage         string
	done, total   int
	stagesStarted int
	finished      bool
}

func (l *stageLog) report(stage string, done, total int) {
	if done == 0 {
		l.stagesStarted++
	}
	l.stage, l.done, l.total = stage, done, total
	l.finished = done == total
}

func TestOpenTextModelErrors(t *testing.T) {
	dir := t.TempDir()
	floatModel := filepath.Join(dir, "float.onnx")
	if _, err := (onnxtest.FloatModel{}).Write(floatModel); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, model, want string
		exact             bool
	}{
		{"missing", filepath.Join(dir, "none.onnx"), "model: ", false},
		{"float inputs", floatModel, "model: " + floatModel + " takes a float tensor (input features), not text", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Open(tc.model, ModelSettings{})
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if e, ok := inputerr.As(err); !ok || e.Setting != "model" {
				t.Errorf("err %v is not an input error about the model setting", err)
			}
			if tc.exact && err.Error() != tc.want || !tc.exact && !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestTextModelEmbedDistinct(t *testing.T) {
	w, err := onnxtest.TokenModel{Dim: 4}.Write(filepath.Join(t.TempDir(), "m"))
	if err != nil {
		t.Fatal(err)
	}
	var log stageLog
	m, err := Open(w.Dir, ModelSettings{
		Encoder:  onnx.EncoderSettings{BatchSize: 2},
		Progress: log.report,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	texts := []string{"the dog", "a cat", "the dog", "red fox", "a cat"}
	x, err := m.EmbedDistinct(context.Background(), "embed texts", texts)
	if err != nil {
		t.Fatal(err)
	}
	if log.stage != "embed texts" || log.total != 3 || log.done != 3 || !log.finished || log.stagesStarted != 1 {
		t.Errorf("progress %+v, want stage \"embed texts\", 3 of 3 distinct texts, finished once", log)
	}
	full, err := m.Embed(context.Background(), "all", texts)
	if err != nil {
		t.Fatal(err)
	}
	if x.Rows != 5 || x.Cols != 4 || log.total != 5 || log.stagesStarted != 2 {
		t.Fatalf("got %d×%d, last stage total %d", x.Rows, x.Cols, log.total)
	}
	for i := range texts {
		for k, v := range linalg.Row(x, i) {
			if f := linalg.Row(full, i)[k]; math.Abs(float64(v-f)) > 1e-6 {
				t.Fatalf("row %d col %d: distinct %v, full %v", i, k, v, f)
			}
		}
	}
	if a, b := linalg.Row(x, 0), linalg.Row(x, 1); a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] {
		t.Errorf("different texts got the same row %v", a)
	}
}
