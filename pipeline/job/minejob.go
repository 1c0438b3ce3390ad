package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/internal/atomicfile"
	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/internal/linalg"
	"github.com/embfit/embfit/internal/progress"
	"github.com/embfit/embfit/mining"
	"github.com/embfit/embfit/onnx"
	"github.com/embfit/embfit/pipeline/dataio"
	"github.com/embfit/embfit/pipeline/embed"
)

// MineJob is one hard-negative mining job (`embfit mine`): where its
// inputs are, how to embed them and how to mine. Exactly one of Pairs and
// Labelled is set, and either Model (embed the texts) or
// QueryEmbeddings (with CorpusEmbeddings in pairs mode) — the command
// checks these combinations. Error messages name the inputs by their
// command-line flags (--pairs, --corpus, --labelled, --model,
// --query-embeddings, --corpus-embeddings).
type MineJob struct {
	// Pairs is a JSONL file of {AnchorField, PositiveField} lines;
	// repeated anchors form one query with several positives.
	Pairs string
	// Labelled is a JSONL file of {TextField, LabelField} lines; the
	// corpus is its distinct (text, label) items.
	Labelled string
	// Corpus is a JSONL file of {TextField} lines (pairs mode); empty
	// means the distinct positives of Pairs.
	Corpus string
	// Model is the ONNX encoder (.onnx file or model folder) that embeds
	// the texts with the Encoder settings.
	Model   string
	Encoder onnx.EncoderSettings
	// QueryPrompt (or QueryPromptName, one of the model folder's prompts)
	// is prepended to the queries, CorpusPrompt / CorpusPromptName to the
	// corpus texts, as sentence-transformers' mine_hard_negatives does;
	// left empty, each uses the folder's default prompt, if any. Labelled
	// mode embeds its items once, with the query prompt.
	QueryPrompt, QueryPromptName   string
	CorpusPrompt, CorpusPromptName string
	// QueryEmbeddings is a float32 .npy with one row per line of Pairs
	// or Labelled; CorpusEmbeddings one row per line of Corpus.
	QueryEmbeddings, CorpusEmbeddings string
	// Field names; empty means anchor, positive, text and label.
	AnchorField, PositiveField, TextField, LabelField string
	// Settings are the mining settings; Format the output format
	// (mining.CheckFormat) and Out the output JSONL (the manifest goes
	// to Out.manifest.json). Used by Run only.
	Settings mining.Settings
	Format   string
	Out      string
	// Stdout receives the JSONL when Out is "-" (no manifest is written
	// then).
	Stdout io.Writer

	// Warn, when set, receives warnings (one message each, no newline).
	Warn func(msg string)
	// Progress, when set, receives the progress of each long stage:
	// "embed queries" and "embed corpus" (texts), "search" (query×corpus
	// pairs scored).
	Progress progress.Func
}

// StageSearch is the progress stage of the exact search, counted in
// query×corpus pairs scored.
const StageSearch = "search"

// MineResult is the outcome of MineJob.Run.
type MineResult struct {
	Problem  *mining.Problem
	Mined    *mining.Mined
	Manifest mining.Manifest
	// Load covers reading and embedding the inputs, Search the exact
	// search.
	Load, Search time.Duration
}

func (j *MineJob) warn(format string, args ...any) {
	if j.Warn != nil {
		j.Warn(fmt.Sprintf(format, args...))
	}
}

// field returns name, or def when name is empty.
func field(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// Run loads the problem, mines it with j.Settings and writes j.Out and
// its manifest atomically (existing files are replaced).
func (j *MineJob) Run(ctx context.Context) (*MineResult, error) {
	start := time.Now()
	if j.Out == "-" && j.Stdout == nil {
		return nil, errors.New("--out -: no standard output to write to")
	}
	if j.Out != "-" {
		// Fail on an unwritable output before the work, not after it.
		if err := atomicfile.Check(j.Out); err != nil {
			return nil, err
		}
		if !atomicfile.IsDirect(j.Out) { // no manifest beside a device or pipe
			if err := atomicfile.Check(j.Out + ".manifest.json"); err != nil {
				return nil, err
			}
		}
	}
	p, man, err := j.Load(ctx)
	if err != nil {
		return nil, err
	}
	res := &MineResult{Problem: p, Load: time.Since(start)}
	total := p.Queries.Rows * p.Corpus.Rows
	j.Progress.Report(StageSearch, 0, total)
	searchStart := time.Now()
	m, err := mining.Mine(ctx, *p, j.Settings, func(done, _ int64) {
		j.Progress.Report(StageSearch, min(int(done), total-1), total)
	})
	res.Search = time.Since(searchStart)
	if err == nil {
		j.Progress.Report(StageSearch, total, total)
	}
	if err != nil {
		return nil, err
	}
	res.Mined = m
	if j.Out == "-" {
		f := atomicfile.NewDirect(j.Stdout, "<stdout>")
		info, err := mining.WriteJSONL(f, j.Format, p, m)
		if err == nil {
			err = f.Commit()
		}
		if err != nil {
			return nil, fmt.Errorf("standard output: %w", err)
		}
		info.Path = "-"
		man.Settings, man.Output, man.Counts = m.Settings, info, m.Counts
		res.Manifest = man
		return res, nil
	}
	if res.Manifest, err = mining.WriteOutputs(j.Out, j.Format, false, p, m, man); err != nil {
		return nil, err
	}
	return res, nil
}

// Load reads the inputs, embeds them (Model) or loads their embeddings,
// L2-normalizes the rows and returns the mining problem and a manifest
// with command, mode, inputs (with their sha256) and model filled in.
func (j *MineJob) Load(ctx context.Context) (*mining.Problem, mining.Manifest, error) {
	man := mining.Manifest{Command: "embfit mine", Mode: "pairs"}
	p := &mining.Problem{}
	textField := field(j.TextField, "text")
	// A tensor model: the items are tensors of its fixed item shape, kept
	// as their canonical JSON text (which the output then holds).
	var shape []int64
	if j.Model != "" {
		pipe, _, err := onnx.Resolve(j.Model, j.Encoder)
		if err != nil {
			return nil, man, inputerr.SettingError("model", err)
		}
		if pipe.Input == "tensor" {
			if pipe.ItemShape == nil {
				return nil, man, inputerr.Settingf("model", "%s takes a float tensor (input %s) whose item shape is not fixed; embfit mine needs a fixed shape", j.Model, pipe.InputName)
			}
			shape = pipe.ItemShape
			if j.TextField == "" {
				textField = "tensor"
			}
		}
	}
	var queryRows []int // row of each query in its embeddings (embeddings mode)
	if j.Labelled != "" {
		man.Mode = "labelled"
		texts, labels, rows, n, err := dataio.ReadLabelledTensors(j.Labelled, textField, field(j.LabelField, "label"), shape)
		if err != nil {
			return nil, man, err
		}
		p.QueryText, p.CorpusText = texts, texts
		p.QueryLabels, p.CorpusLabels = labels, labels
		queryRows = rows
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "labelled", Path: j.Labelled, Rows: n})
	} else {
		anchors, positives, lines, err := dataio.ReadPairItems(j.Pairs, field(j.AnchorField, "anchor"), field(j.PositiveField, "positive"), shape)
		if err != nil {
			return nil, man, err
		}
		set := mining.GroupPairs(anchors, positives)
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "pairs", Path: j.Pairs, Rows: set.Pairs})
		p.QueryText = set.Queries
		queryRows = set.FirstPair
		if j.Corpus != "" {
			p.CorpusText, err = dataio.ReadCorpusItems(j.Corpus, textField, shape)
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus", Path: j.Corpus, Rows: len(p.CorpusText)})
		} else {
			p.CorpusText = set.DefaultCorpus()
		}
		rows, missing := set.CorpusRows(p.CorpusText)
		if missing >= 0 {
			return nil, man, fmt.Errorf("%s:%d: positive %q is not in the corpus %s", j.Pairs, lines[missing], dataio.PreviewText(positives[missing]), j.Corpus)
		}
		p.Positives = rows
	}

	if j.Model != "" {
		if err := j.embed(ctx, p, &man); err != nil {
			return nil, man, err
		}
	} else {
		q, err := dataio.ReadRowEmbeddings(j.QueryEmbeddings, man.Inputs[0])
		if err != nil {
			return nil, man, err
		}
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "query-embeddings", Path: j.QueryEmbeddings, Rows: q.Rows})
		p.Queries = linalg.GatherRows(q, queryRows)
		if p.QueryLabels != nil {
			p.Corpus = p.Queries
		} else {
			cm, err := dataio.ReadRowEmbeddings(j.CorpusEmbeddings, man.Inputs[1])
			if err != nil {
				return nil, man, err
			}
			man.Inputs = append(man.Inputs, mining.InputFile{Role: "corpus-embeddings", Path: j.CorpusEmbeddings, Rows: cm.Rows})
			p.Corpus = cm
		}
		if p.Queries.Cols != p.Corpus.Cols {
			return nil, man, inputerr.FileError(j.CorpusEmbeddings, 0, fmt.Errorf("%d columns but the query embeddings %s have %d", p.Corpus.Cols, j.QueryEmbeddings, p.Queries.Cols))
		}
	}
	for i := range man.Inputs {
		if man.Inputs[i].SHA256 != "" {
			continue
		}
		sum, err := digest.File(man.Inputs[i].Path)
		if err != nil {
			return nil, man, err
		}
		man.Inputs[i].SHA256 = sum
	}
	zero := mining.NormalizeRows(p.Queries)
	if p.QueryLabels == nil {
		zero += mining.NormalizeRows(p.Corpus)
	}
	if zero > 0 {
		j.warn("%d all-zero embeddings (such queries are skipped; such corpus rows score 0)", zero)
	}
	return p, man, nil
}

// embed embeds the query and corpus texts with j.Model.
func (j *MineJob) embed(ctx context.Context, p *mining.Problem, man *mining.Manifest) error {
	if pipe, _, err := onnx.Resolve(j.Model, j.Encoder); err == nil && pipe.Input == "tensor" {
		return j.embedTensors(ctx, p, man)
	}
	tm, err := embed.Open(j.Model, embed.ModelSettings{Encoder: j.Encoder, Warn: j.Warn, Progress: j.Progress})
	if err != nil {
		return err
	}
	defer tm.Close()
	files := tm.Encoder().Files()
	sum, err := digest.File(files.Model)
	if err != nil {
		return err
	}
	man.ModelSHA256 = sum
	man.Inputs = append(man.Inputs, mining.InputFile{Role: "model", Path: files.Model, SHA256: sum})
	if files.Tokenizer != "" {
		man.Inputs = append(man.Inputs, mining.InputFile{Role: "tokenizer", Path: files.Tokenizer})
	}
	qm, err := tm.WithPrompt(j.QueryPrompt, j.QueryPromptName)
	if err != nil {
		return promptError(err, "query_prompt")
	}
	if p.Queries, err = qm.Embed(ctx, "embed queries", p.QueryText); err != nil {
		return err
	}
	pipes := map[string]onnx.Pipeline{"query": qm.Encoder().Pipeline()}
	man.Encoder = pipes
	if p.QueryLabels != nil {
		if j.CorpusPrompt != "" || j.CorpusPromptName != "" {
			return inputerr.Settingf("corpus_prompt", "labelled mode embeds its items once, with the query prompt")
		}
		p.Corpus = p.Queries
		return nil
	}
	cm, err := tm.WithPrompt(j.CorpusPrompt, j.CorpusPromptName)
	if err != nil {
		return promptError(err, "corpus_prompt")
	}
	pipes["corpus"] = cm.Encoder().Pipeline()
	p.Corpus, err = cm.Embed(ctx, "embed corpus", p.CorpusText)
	return err
}

// embedTensors embeds tensor items (canonical texts) with a tensor model.
func (j *MineJob) embedTensors(ctx context.Context, p *mining.Problem, man *mining.Manifest) error {
	if j.QueryPrompt != "" || j.QueryPromptName != "" || j.CorpusPrompt != "" || j.CorpusPromptName != "" {
		return inputerr.Settingf("query_prompt", "model %s takes a float tensor: prompts do not apply", j.Model)
	}
	enc, err := onnx.OpenEncoder(j.Model, j.Encoder)
	if err != nil {
		return inputerr.SettingError("model", err)
	}
	defer enc.Close()
	for _, w := range enc.Warnings() {
		j.warn("%s", w)
	}
	sum, err := digest.File(enc.Files().Model)
	if err != nil {
		return err
	}
	man.ModelSHA256 = sum
	man.Inputs = append(man.Inputs, mining.InputFile{Role: "model", Path: enc.Files().Model, SHA256: sum})
	man.Encoder = map[string]onnx.Pipeline{"items": enc.Pipeline()}
	tt := embed.TensorTexts{Enc: enc}
	run := func(stage string, texts []string) (blas32.General, error) {
		x := linalg.NewMatrix(len(texts), enc.Dim())
		j.Progress.Report(stage, 0, len(texts))
		if err := tt.Encode(ctx, x, texts); err != nil {
			return x, err
		}
		j.Progress.Report(stage, len(texts), len(texts))
		return x, nil
	}
	if p.Queries, err = run("embed queries", p.QueryText); err != nil {
		return err
	}
	if p.QueryLabels != nil {
		p.Corpus = p.Queries
		return nil
	}
	p.Corpus, err = run("embed corpus", p.CorpusText)
	return err
}

// promptError renames the encoder's prompt / prompt_name setting in err to
// role's (query_prompt, query_prompt_name, …).
func promptError(err error, role string) error {
	if e, ok := inputerr.As(err); ok && (e.Setting == "prompt" || e.Setting == "prompt_name") {
		return inputerr.SettingError(role+strings.TrimPrefix(e.Setting, "prompt"), e.Err)
	}
	return err
}
