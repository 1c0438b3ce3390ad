package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/embfit/embfit/internal/digest"
	"github.com/embfit/embfit/internal/inputerr"
	"github.com/embfit/embfit/pipeline/train"
)

// Run directories. A folder becomes a run when config.json is written,
// which happens only once the inputs have been read and embedded, just
// before training starts; a new run whose start fails (bad input, an
// interrupt before training) removes what it created, so the same
// command can simply be run again. A new run goes into a folder that
// does not exist or is empty; a folder holding other files is refused,
// so no user file is overwritten. One process at a time works in a run
// folder: it holds an exclusive lock (flock) on RUN/.lock, also when
// resuming or exporting.

// LockName is the lock file a run directory holds while in use.
const LockName = ".lock"

// ErrRunBusy is wrapped by the error when another process holds a run
// directory's lock.
var ErrRunBusy = errors.New("is in use by another embfit process")

// ErrNotRunDir is wrapped by the error when a new run is given a folder
// that holds files but no run.
var ErrNotRunDir = errors.New("is not empty and holds no run")

// RunLock is an exclusive lock on a run directory.
type RunLock struct {
	f           *os.File
	dir         string
	created     bool // the directory did not exist before
	lockCreated bool // nor did the lock file
}

// LockRunDir locks dir, creating it if create is true and it is missing.
// The lock is not waited for: a held lock is an error wrapping
// ErrRunBusy.
func LockRunDir(dir string, create bool) (*RunLock, error) {
	l := &RunLock{dir: dir}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		l.created = true
	} else if err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, LockName)
	_, statErr := os.Lstat(lockPath)
	l.lockCreated = errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		l.undoCreate()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s %w (lock %s)", dir, ErrRunBusy, f.Name())
		}
		return nil, fmt.Errorf("%s: lock: %w", f.Name(), err)
	}
	l.f = f
	return l, nil
}

// Unlock releases the lock.
func (l *RunLock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// abandon removes what a failed new run wrote into the directory (only
// the files a run writes, never others) and the directory itself when
// this run created it and it is left empty, then unlocks.
func (l *RunLock) abandon() {
	for _, name := range []string{"config.json", "metrics.jsonl", "test_metrics.json", "head.onnx", "merged.onnx", "tokenizer.json"} {
		os.Remove(filepath.Join(l.dir, name))
	}
	os.Remove(filepath.Join(l.dir, "checkpoints"))
	os.Remove(filepath.Join(l.dir, LockName))
	l.Unlock()
	l.undoCreate()
}

// release unlocks, removing only what LockRunDir created (the lock file,
// the directory), for a directory that turned out not to take the run.
func (l *RunLock) release() {
	if l.lockCreated {
		os.Remove(filepath.Join(l.dir, LockName))
	}
	l.Unlock()
	l.undoCreate()
}

func (l *RunLock) undoCreate() {
	if l.created {
		os.Remove(l.dir) // only if empty
	}
}

// checkNewRunDir returns an error unless dir can take a new run: it holds
// nothing but the lock file.
func checkNewRunDir(dir string) error {
	if _, err := os.Stat(ConfigPath(dir)); err == nil {
		return fmt.Errorf("%s %w", dir, ErrRunExists)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != LockName {
			return fmt.Errorf("%s %w (it has %s); give a new or empty folder", dir, ErrNotRunDir, e.Name())
		}
	}
	return nil
}

// HasCheckpoint reports whether the run in dir has a checkpoint to resume
// from.
func HasCheckpoint(dir string) bool {
	_, err := os.Stat(train.CheckpointPath(dir))
	return err == nil
}

// inputFiles are the data files of a job by setting name.
func (j *TrainJob) inputFiles() [][2]string {
	return [][2]string{{"train", j.Train}, {"dev", j.Dev}, {"test", j.Test}}
}

// hashInputs records the sha256 of the job's data files.
func (j *TrainJob) hashInputs() error {
	j.DataSHA256 = map[string]string{}
	for _, f := range j.inputFiles() {
		if f[1] == "" {
			continue
		}
		sum, err := digest.File(f[1])
		if err != nil {
			return inputerr.SettingError(f[0], err)
		}
		j.DataSHA256[f[0]] = sum
	}
	return nil
}

// verifyInputs checks a resumed job's data files against the sha256
// recorded when the run started (runs from before the record pass).
func (j *TrainJob) verifyInputs() error {
	for _, f := range j.inputFiles() {
		want, ok := j.DataSHA256[f[0]]
		if f[1] == "" || !ok {
			continue
		}
		sum, err := digest.File(f[1])
		if err != nil {
			return inputerr.SettingError(f[0], err)
		}
		if sum != want {
			return inputerr.Settingf(f[0], "%s changed since the run started (sha256 %s, was %s); a resumed run needs the same data", f[1], sum, want)
		}
	}
	return nil
}

// absolutize returns a copy of the job with its paths made absolute and
// the typed forms in Typed, so that a run can be resumed or exported from
// any folder.
func (j TrainJob) absolutize() *TrainJob {
	typed := map[string]string{}
	for _, p := range []struct {
		name string
		v    *string
	}{{"model", &j.Model}, {"tokenizer", &j.Tokenizer}, {"train", &j.Train}, {"dev", &j.Dev}, {"test", &j.Test}, {"cache_dir", &j.CacheDir}} {
		if *p.v == "" || filepath.IsAbs(*p.v) {
			continue
		}
		if a, err := filepath.Abs(*p.v); err == nil {
			typed[p.name] = *p.v
			*p.v = a
		}
	}
	if len(typed) > 0 && j.Typed == nil {
		j.Typed = typed
	}
	return &j
}

// CheckModel returns an error if the job's encoder file no longer has the
// sha256 recorded when the run started.
func (j *TrainJob) CheckModel() error {
	if j.ModelSHA256 == "" {
		return nil
	}
	source, setting := j.Model, "model"
	if source == "" {
		source, setting = j.Embeddings, "embeddings" // no encoder: the embeddings identify the run
	}
	sum, err := digest.File(source)
	if err != nil {
		return inputerr.SettingError(setting, err)
	}
	if sum != j.ModelSHA256 {
		return inputerr.Settingf(setting, "%s changed since the run started (sha256 %s, was %s)", source, sum, j.ModelSHA256)
	}
	return nil
}

// RunState reports how far the run in dir got: whether training finished,
// and the epoch and step of its last checkpoint.
func RunState(dir string) (done bool, epoch, step int, err error) {
	return train.CheckpointState(dir)
}
