package onnx

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/embfit/embfit/onnx/graph"
)

// ModelFiles are the files of a model given as `--model`.
type ModelFiles struct {
	Model     string // the .onnx file
	Tokenizer string // tokenizer.json, "" if none was found
	// MaxLength is tokenizer_config.json's model_max_length when the
	// model folder has one (0 otherwise).
	MaxLength int
}

// ResolveModel finds the files of a model given as an .onnx file or as a
// folder in the Hugging Face export layout: model.onnx or onnx/model.onnx,
// with tokenizer.json beside it or in the folder. A missing model is an
// error naming path.
func ResolveModel(path string) (ModelFiles, error) {
	var f ModelFiles
	st, err := os.Stat(path)
	if err != nil {
		return f, fmt.Errorf("model %s: %w", path, errNotExist(err))
	}
	var dirs []string
	if st.IsDir() {
		for _, c := range []string{"model.onnx", filepath.Join("onnx", "model.onnx")} {
			if _, err := os.Stat(filepath.Join(path, c)); err == nil {
				f.Model = filepath.Join(path, c)
				break
			}
		}
		if f.Model == "" {
			return f, fmt.Errorf("model %s: folder holds neither model.onnx nor onnx/model.onnx", path)
		}
		dirs = []string{path, filepath.Dir(f.Model)}
	} else {
		f.Model = path
		d := filepath.Dir(path)
		dirs = []string{d, filepath.Dir(d)}
	}
	for _, d := range dirs {
		if f.Tokenizer == "" {
			if _, err := os.Stat(filepath.Join(d, "tokenizer.json")); err == nil {
				f.Tokenizer = filepath.Join(d, "tokenizer.json")
			}
		}
		if f.MaxLength == 0 {
			if b, err := os.ReadFile(filepath.Join(d, "tokenizer_config.json")); err == nil {
				var c struct {
					ModelMaxLength float64 `json:"model_max_length"`
				}
				// transformers writes 1e30 when there is no limit.
				if json.Unmarshal(b, &c) == nil && c.ModelMaxLength > 0 && c.ModelMaxLength < 1e7 {
					f.MaxLength = int(c.ModelMaxLength)
				}
			}
		}
	}
	return f, nil
}

func errNotExist(err error) error {
	if os.IsNotExist(err) {
		return fmt.Errorf("no such file or folder")
	}
	return err
}

// ModelInfo describes an ONNX model: its graph inputs (weights excluded)
// and outputs with symbolic dimensions as written in the file, the
// default-domain opset, IR version and producer.
type ModelInfo struct {
	Path      string
	Inputs    []graph.ValueInfo
	Outputs   []graph.ValueInfo
	Opset     int64
	IRVersion int64
	Producer  string
	// EmbeddingRows is the row count of the token embedding table (the
	// initializer a Gather indexes with input_ids), 0 if none is found.
	EmbeddingRows int64 `json:"-"`
}

// Inspect reads the model file's inputs, outputs and opset without
// starting ONNX Runtime.
func Inspect(path string) (ModelInfo, error) {
	m, err := graph.Load(path)
	if err != nil {
		return ModelInfo{}, err
	}
	pb := m.Proto()
	return ModelInfo{
		Path:          path,
		Inputs:        m.Inputs(),
		Outputs:       m.Outputs(),
		Opset:         m.Opset(),
		IRVersion:     pb.IrVersion,
		Producer:      pb.ProducerName + " " + pb.ProducerVersion,
		EmbeddingRows: embeddingRows(m),
	}, nil
}

// embeddingRows finds the initializer that a Gather indexes with
// input_ids and returns its first dimension, or 0.
func embeddingRows(m *graph.Model) int64 {
	g := m.Graph()
	inits := make(map[string][]int64, len(g.Initializer))
	for _, t := range g.Initializer {
		inits[t.GetName()] = t.GetDims()
	}
	for _, n := range g.Node {
		if n.GetOpType() == "Gather" && len(n.Input) == 2 && n.Input[1] == "input_ids" {
			if d, ok := inits[n.Input[0]]; ok && len(d) == 2 {
				return d[0]
			}
		}
	}
	return 0
}

// ValueInfo describes a model input or output (name, element type,
// dimensions as written in the file).
type ValueInfo = graph.ValueInfo

const (
	graphFloat = graph.Float
	graphInt64 = graph.Int64
)
