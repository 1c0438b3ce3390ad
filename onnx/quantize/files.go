package quantize

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/onnx/graph"
)

// ErrExists is wrapped by Files' error when the output exists and
// overwriting was not asked for.
var ErrExists = errors.New("already exists")

// carried are the extensions of the files of a model folder Files copies
// into the quantized folder: tokenizer, configuration and model-card
// files. Weights in other formats and other ONNX files are left out.
var carried = []string{".json", ".txt", ".model", ".vocab", ".md"}

// FilesReport is what Files did.
type FilesReport struct {
	Report
	Model  string   // the quantized model file written
	Copied []string // files carried over, relative to the folder
}

// Files quantizes the model src into dst with Dynamic. src is an .onnx
// file (dst is then written as one file) or a model folder as
// onnx.ResolveModel accepts it (dst is then a folder: the quantized model
// at the same relative path as src's, plus src's tokenizer, configuration
// and model-card files — .json, .txt, .model, .vocab, .md — in their
// sub-folders). dst must not exist unless overwrite is set. Output
// appears complete or not at all: it is built under a temporary name
// beside dst and renamed.
func Files(src, dst string, overwrite bool, o Options) (FilesReport, error) {
	var rep FilesReport
	files, err := onnx.ResolveModel(src)
	if err != nil {
		return rep, err
	}
	if _, err := os.Lstat(dst); err == nil && !overwrite {
		return rep, fmt.Errorf("%s: %w", dst, ErrExists)
	}
	if same(src, dst) {
		return rep, fmt.Errorf("%s: the output is the model itself", dst)
	}
	m, err := graph.Load(files.Model)
	if err != nil {
		return rep, fmt.Errorf("model %w", err)
	}
	if rep.Report, err = Dynamic(m, o); err != nil {
		return rep, fmt.Errorf("model %s: %w", files.Model, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return rep, err
	}
	if !st.IsDir() {
		rep.Model = dst
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return rep, err
		}
		if overwrite {
			if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
				return rep, fmt.Errorf("%s: is a folder; the model %s is one file", dst, src)
			}
		}
		return rep, m.Save(dst)
	}
	rel, err := filepath.Rel(src, files.Model)
	if err != nil {
		return rep, err
	}
	parent := filepath.Dir(filepath.Clean(dst))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return rep, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	if rep.Copied, err = copyCarried(src, tmp); err != nil {
		return rep, err
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, rel)), 0o755); err != nil {
		return rep, err
	}
	if err := m.Save(filepath.Join(tmp, rel)); err != nil {
		return rep, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return rep, err
	}
	if err := replace(tmp, dst); err != nil {
		return rep, err
	}
	rep.Model = filepath.Join(dst, rel)
	return rep, nil
}

// same reports whether a and b name the same existing file or folder.
func same(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// replace renames the complete folder tmp to dst, moving an existing dst
// aside first and removing it afterwards.
func replace(tmp, dst string) error {
	if _, err := os.Lstat(dst); err != nil {
		return os.Rename(tmp, dst)
	}
	old := tmp + ".old"
	if err := os.Rename(dst, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Rename(old, dst)
		return err
	}
	return os.RemoveAll(old)
}

// copyCarried copies src's carried files into dst, keeping sub-folders
// (empty ones too: sentence-transformers' modules.json may name them).
func copyCarried(src, dst string) ([]string, error) {
	var copied []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() || !slices.Contains(carried, strings.ToLower(filepath.Ext(p))) {
			return nil
		}
		copied = append(copied, rel)
		return copyFile(p, filepath.Join(dst, rel))
	})
	return copied, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
