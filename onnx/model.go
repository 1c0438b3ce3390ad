package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/onnx/graph"
)

// ModelFiles are the files of a model given as `--model`.
type ModelFiles struct {
	Model     string // the .onnx file
	Tokenizer string // tokenizer.json, "" if none was found
	// MaxLength is tokenizer_config.json's model_max_length when the
	// model folder has one (0 otherwise).
	MaxLength int
	// Variants lists the folder's .onnx files relative to Folder.Root
	// (see ONNXVariants); File is the chosen one.
	Variants []string
	File     string
	// Folder is what the folder's configuration files say.
	Folder Folder
	// Warnings are notes about the choice (several ONNX variants and none
	// chosen), one sentence each.
	Warnings []string
}

// ResolveModel is ResolveModelFile(path, "").
func ResolveModel(path string) (ModelFiles, error) { return ResolveModelFile(path, "") }

// ResolveModelFile finds the files of a model given as an .onnx file or as
// a folder in the Hugging Face / sentence-transformers layout, and reads
// the folder's configuration (see Folder). In a folder, file chooses the
// ONNX variant as sentence-transformers' file_name does: file, else
// onnx/file, relative to the folder; it defaults to model.onnx (a note
// says so when the folder holds several variants). tokenizer.json is
// looked for beside the model file, then in the folder. For an .onnx file
// the folder is its directory, or the parent of an onnx/ directory. A
// missing model, an unknown variant or a bad configuration file is an
// error naming it.
func ResolveModelFile(path, file string) (ModelFiles, error) {
	var f ModelFiles
	st, err := os.Stat(path)
	if err != nil {
		return f, inputerr.Settingf("model", "%s: %v", path, errNotExist(err))
	}
	var root string
	if st.IsDir() {
		root = path
		f.Variants = ONNXVariants(root)
		name := file
		if name == "" {
			name = "model.onnx"
		}
		for _, c := range []string{name, filepath.Join("onnx", name)} {
			if st, err := os.Stat(filepath.Join(root, c)); err == nil && !st.IsDir() {
				f.Model, f.File = filepath.Join(root, c), filepath.ToSlash(c)
				break
			}
		}
		if f.Model == "" {
			have := "none"
			if len(f.Variants) > 0 {
				have = strings.Join(f.Variants, ", ")
			}
			if file != "" {
				return f, inputerr.Settingf("file", "%q: not in model folder %s (its ONNX files: %s)", file, path, have)
			}
			return f, inputerr.Settingf("model", "%s: model folder holds neither model.onnx nor onnx/model.onnx (its ONNX files: %s)", path, have)
		}
		// As sentence-transformers: a note only when the default was not
		// at the folder's root and onnx/ holds several files.
		if file == "" && f.File != "model.onnx" && len(f.Variants) > 1 {
			f.Warnings = append(f.Warnings, fmt.Sprintf("model folder %s holds %d ONNX files (%s): using %s (choose another with the file setting)", path, len(f.Variants), strings.Join(f.Variants, ", "), f.File))
		}
	} else {
		if file != "" {
			return f, inputerr.Settingf("file", "%q: chooses an ONNX file inside a model folder, but the model %s is a file", file, path)
		}
		f.Model = path
		f.File = filepath.Base(path)
		root = filepath.Dir(path)
		if filepath.Base(root) == "onnx" {
			root = filepath.Dir(root)
		}
	}
	for _, d := range []string{filepath.Dir(f.Model), root} {
		if f.Tokenizer == "" {
			if _, err := os.Stat(filepath.Join(d, "tokenizer.json")); err == nil {
				f.Tokenizer = filepath.Join(d, "tokenizer.json")
			}
		}
	}
	if f.Folder, err = ReadFolder(root); err != nil {
		return f, err
	}
	f.MaxLength = f.Folder.ModelMaxLength.Value
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
