package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/tensorjson"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
)

// FileSettings configures JSONL. The zero value of every field
// but Input and Out means its default.
type FileSettings struct {
	Input string `json:"input"` // JSONL file, "-" for standard input
	// Field holds each item: a string for text models (default "text"),
	// a JSON array of numbers, nested or flat, for float models (default
	// "tensor").
	Field      string `json:"field"`
	IDField    string `json:"id_field"`    // default "id"
	LabelField string `json:"label_field"` // default "label"
	Out        string `json:"out"`         // .npy to write
	// IDsOut is the sidecar JSONL, one line per row: {"row", "line", and
	// "id" / "label" when the input had them}. Default: Out with ".npy"
	// replaced by ".ids.jsonl" (emb.npy → emb.ids.jsonl).
	IDsOut string `json:"ids_out"`
	// Shard and Shards, when Shards > 1, embed only the records
	// [N·Shard/Shards, N·(Shard+1)/Shards) of the N records; the sidecar
	// keeps their global row numbers, so the Shards outputs concatenated
	// in order are the single run's files.
	Shard  int `json:"shard,omitempty"`
	Shards int `json:"shards,omitempty"`
	// KeepNonFinite keeps embeddings holding NaN or ±Inf (counted in the
	// result) instead of failing on the first one.
	KeepNonFinite bool `json:"keep_non_finite,omitempty"`
}

// FileResult reports what JSONL did.
type FileResult struct {
	Items  int    `json:"items"`
	Dim    int    `json:"dim"`
	Out    string `json:"out"`
	IDsOut string `json:"ids_out"` // "" when Out is not a regular file (no sidecar written)
	// NonFinite counts the rows holding NaN or ±Inf (KeepNonFinite).
	NonFinite int           `json:"non_finite"`
	Elapsed   time.Duration `json:"elapsed"`  // reading, embedding and writing
	RunTime   time.Duration `json:"run_time"` // of which inside ONNX Runtime
}

// JSONL embeds every record of s.Input with enc and writes the
// embeddings (float32 [N,D], row i for the i-th record) to s.Out and the
// sidecar to s.IDsOut. Bad input is an error naming file and line; on any
// error (or cancellation) no output file is left behind. Inputs are never
// overwritten. An embedding holding NaN or ±Inf is an error naming its
// input line unless s.KeepNonFinite. When s.Out exists and is not a
// regular file (a device such as /dev/null, a pipe) the embeddings are
// written to it directly and no sidecar is written (IDsOut is "").
func JSONL(ctx context.Context, enc *onnx.Encoder, s FileSettings) (FileResult, error) {
	start := time.Now()
	if s.Field == "" {
		s.Field = "text"
		if !enc.IsText() {
			s.Field = "tensor"
		}
	}
	if s.IDField == "" {
		s.IDField = "id"
	}
	if s.LabelField == "" {
		s.LabelField = "label"
	}
	if s.Out == "" {
		return FileResult{}, errors.New("no output file given")
	}
	if s.IDsOut == "" {
		s.IDsOut = dataio.SidecarPath(s.Out)
	}
	if s.IDsOut == s.Out {
		return FileResult{}, fmt.Errorf("%s: the embeddings and the sidecar would be the same file", s.Out)
	}
	for _, o := range []string{s.Out, s.IDsOut} {
		if s.Input != "-" && sameFile(o, s.Input) {
			return FileResult{}, fmt.Errorf("%s: is the input file; refusing to overwrite it", o)
		}
	}
	// Open the outputs first: an unwritable destination fails before the
	// (long) embedding.
	npy, err := atomicfile.Create(s.Out, false)
	if err != nil {
		return FileResult{}, err
	}
	defer npy.Abort()
	outs := []*atomicfile.File{npy}
	var side *atomicfile.File
	if npy.Direct() {
		s.IDsOut = ""
	} else {
		side, err = atomicfile.Create(s.IDsOut, false)
		if err != nil {
			return FileResult{}, err
		}
		defer side.Abort()
		outs = append(outs, side)
	}

	var texts []string
	var floats []float32
	var itemShape []int64
	var meta []dataio.SidecarRow
	var npyItems *blas32.General
	if strings.HasSuffix(s.Input, ".npy") {
		npyItems, itemShape, meta, err = readNPYItems(enc, s)
	} else {
		err = readJSONLItems(ctx, enc, s, &texts, &floats, &itemShape, &meta)
	}
	if err != nil {
		return FileResult{}, err
	}
	if s.Shards > 1 {
		if s.Shard < 0 || s.Shard >= s.Shards {
			return FileResult{}, inputerr.Settingf("shard", "%d of %d: want 0 ≤ shard < shards", s.Shard, s.Shards)
		}
		lo, hi := len(meta)*s.Shard/s.Shards, len(meta)*(s.Shard+1)/s.Shards
		if enc.IsText() {
			texts = texts[lo:hi]
		} else {
			per := len(floats) / max(len(meta), 1)
			floats = floats[lo*per : hi*per]
		}
		meta = meta[lo:hi]
	}
	n, d := len(meta), enc.Dim()
	dst := blas32.General{Rows: n, Cols: d, Stride: d, Data: make([]float32, n*d)}
	runBefore := enc.RunTime()
	if enc.IsText() {
		err = enc.Encode(ctx, dst, texts)
	} else {
		per := 1
		for _, x := range itemShape {
			per *= int(x)
		}
		x := blas32.General{Rows: n, Cols: per, Stride: per, Data: floats}
		if npyItems != nil {
			x = *npyItems
		}
		var shape []int64
		if fixed := modelItemShape(enc); fixed == nil {
			shape = itemShape
		}
		err = enc.EncodeFloats(ctx, dst, x, shape)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return FileResult{}, err
		}
		return FileResult{}, fmt.Errorf("%s: %w", s.Input, err)
	}
	nonFinite := 0
	for i := 0; i < n; i++ {
		if finiteRow(dst.Data[i*d : i*d+d]) {
			continue
		}
		if !s.KeepNonFinite {
			name := s.Input
			if name == "-" {
				name = "<stdin>"
			}
			return FileResult{}, fmt.Errorf("%s:%d: the model's embedding is not finite (NaN or ±Inf); keep such rows with --keep-non-finite", name, meta[i].Line)
		}
		nonFinite++
	}
	if err := dataio.EncodeNPY(npy, dst); err != nil {
		return FileResult{}, fmt.Errorf("%s: %w", s.Out, err)
	}
	if side != nil {
		jw := json.NewEncoder(side)
		for _, m := range meta {
			if err := jw.Encode(m); err != nil {
				return FileResult{}, fmt.Errorf("%s: %w", s.IDsOut, err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	if err := atomicfile.CommitAll(outs...); err != nil {
		return FileResult{}, err
	}
	return FileResult{Items: n, Dim: d, Out: s.Out, IDsOut: s.IDsOut, NonFinite: nonFinite, Elapsed: time.Since(start), RunTime: enc.RunTime() - runBefore}, nil
}

// finiteRow reports whether every value of v is finite.
func finiteRow(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// readJSONLItems reads the items of a JSONL input: texts for text models,
// number arrays (checked against the model's item shape) for tensor
// models.
func readJSONLItems(ctx context.Context, enc *onnx.Encoder, s FileSettings, texts *[]string, floats *[]float32, itemShape *[]int64, meta *[]dataio.SidecarRow) error {
	return dataio.ReadJSONL(s.Input, func(r dataio.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := dataio.SidecarRow{Row: len(*meta), Line: r.Line}
		if v := r.Fields[s.IDField]; r.Has(s.IDField) {
			row.ID = compactJSON(v)
		}
		if v := r.Fields[s.LabelField]; r.Has(s.LabelField) {
			row.Label = compactJSON(v)
		}
		*meta = append(*meta, row)
		if enc.IsText() {
			t, err := r.String(s.Field)
			*texts = append(*texts, t)
			return err
		}
		v, ok := r.Fields[s.Field]
		if !ok {
			return r.Errorf("missing field %q", s.Field)
		}
		vals, shape, err := tensorjson.Decode(v)
		if err != nil {
			return r.Errorf("field %q: %v", s.Field, err)
		}
		if fixed := enc.ItemShape(); fixed != nil {
			if err := onnx.CheckItemShape(shape, fixed); err != nil {
				return r.Errorf("field %q: %v", s.Field, err)
			}
			shape = fixed
		}
		if *itemShape == nil {
			*itemShape = shape
		} else if !equalShape(shape, *itemShape) {
			return r.Errorf("field %q: shape %v differs from the first item's %v", s.Field, shape, *itemShape)
		}
		*floats = append(*floats, vals...)
		return nil
	})
}

// readNPYItems reads the tensors of a .npy input [N, item shape…] for a
// tensor model, checking the item shape against the model's, and the ids
// and labels from its sidecar (SidecarPath of the input: one JSON object
// a row, as embed writes them) when there is one.
func readNPYItems(enc *onnx.Encoder, s FileSettings) (*blas32.General, []int64, []dataio.SidecarRow, error) {
	if enc.IsText() {
		return nil, nil, nil, inputerr.FileError(s.Input, 0, fmt.Errorf("a .npy input holds tensors, but the model takes text (input_ids)"))
	}
	x, shape, err := dataio.ReadNPYTensor(s.Input)
	if err != nil {
		return nil, nil, nil, err
	}
	if fixed := enc.ItemShape(); fixed != nil {
		if err := onnx.CheckItemShape(shape, fixed); err != nil {
			return nil, nil, nil, inputerr.FileError(s.Input, 0, fmt.Errorf("items: %w", err))
		}
		shape = fixed
	}
	meta := make([]dataio.SidecarRow, x.Rows)
	for i := range meta {
		meta[i].Row = i
	}
	side := dataio.SidecarPath(s.Input)
	if _, err := os.Stat(side); err != nil {
		return &x, shape, meta, nil
	}
	k := 0
	err = dataio.ReadJSONL(side, func(r dataio.Record) error {
		if k >= x.Rows {
			return r.Errorf("more lines than the %d rows of %s", x.Rows, s.Input)
		}
		if v := r.Fields[s.IDField]; r.Has(s.IDField) {
			meta[k].ID = compactJSON(v)
		}
		if v := r.Fields[s.LabelField]; r.Has(s.LabelField) {
			meta[k].Label = compactJSON(v)
		}
		meta[k].Line = r.Line
		k++
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if k != x.Rows {
		return nil, nil, nil, inputerr.FileError(side, 0, fmt.Errorf("%d lines for the %d rows of %s", k, x.Rows, s.Input))
	}
	return &x, shape, meta, nil
}

// modelItemShape is the float input's fixed per-item shape, nil if not fixed.
func modelItemShape(enc *onnx.Encoder) []int64 {
	ins := enc.Info().Inputs
	if len(ins) != 1 || len(ins[0].Dims) < 2 {
		return nil
	}
	var shape []int64
	for _, d := range ins[0].Dims[1:] {
		if d.Param != "" || d.Value < 0 {
			return nil
		}
		shape = append(shape, d.Value)
	}
	return shape
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return v
	}
	return b.Bytes()
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	ab, _ := filepath.Abs(b)
	return aa == ab
}
