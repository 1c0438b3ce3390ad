// Package progress reports how far a long job has come: a redrawn bar
// (github.com/schollz/progressbar) when the output is a terminal, and
// plain periodic lines otherwise (logs, CI), so that output stays
// readable when redirected.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// Reporter shows the progress of one job of a known number of items. Its
// methods are safe for concurrent use.
type Reporter struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int
	done     int
	start    time.Time
	bar      *progressbar.ProgressBar // nil when not a terminal
	every    time.Duration
	lastLine time.Time
}

// IsTerminal reports whether w is a terminal (an *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// New starts reporting a job of total items (unit names them, e.g.
// "items") to w: a bar if w is a terminal, else a line at most every
// `every` (default 10 s) and at the end.
func New(w io.Writer, label string, total int, unit string, every time.Duration) *Reporter {
	if every <= 0 {
		every = 10 * time.Second
	}
	r := &Reporter{w: w, label: label, unit: unit, total: total, start: time.Now(), every: every}
	r.lastLine = r.start
	if IsTerminal(w) {
		r.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return r
}

// Set records that done items of the total are finished.
func (r *Reporter) Set(done int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = done
	if r.bar != nil {
		r.bar.Set(done)
		return
	}
	if now := time.Now(); now.Sub(r.lastLine) >= r.every {
		r.lastLine = now
		el := now.Sub(r.start)
		fmt.Fprintf(r.w, "%s: %d/%d %s (%.0f%%), %s elapsed, %.1f %s/s\n", r.label, done, r.total, r.unit,
			100*float64(done)/float64(max(r.total, 1)), el.Round(time.Second), Rate(done, el), r.unit)
	}
}

// Finish ends the bar and returns the elapsed time.
func (r *Reporter) Finish() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		r.bar.Finish()
	}
	return time.Since(r.start)
}

// Rate is n items per second over d (0 when d is 0).
func Rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Func is the one shape in which library code reports progress. It is
// called with done = 0 when a stage starts, then with the number of the
// stage's units done so far, and with done = total when the stage ends;
// stage names what is being done ("embed corpus", "search"). A nil Func
// reports nothing: call it through Report.
type Func func(stage string, done, total int)

// Report calls f when it is not nil.
func (f Func) Report(stage string, done, total int) {
	if f != nil {
		f(stage, done, total)
	}
}

// Bars returns a Func that draws one Reporter per stage on w, labelled
// prefix + stage, counting units(stage) (nil: "items"), and finishes it when
// the stage reports done = total or the next stage starts. Call the
// returned stop function at the end to finish an open stage.
func Bars(w io.Writer, prefix string, units func(stage string) string) (f Func, stop func()) {
	var mu sync.Mutex
	var cur *Reporter
	var curStage string
	finish := func() {
		if cur != nil {
			cur.Finish()
			cur = nil
		}
	}
	f = func(stage string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil || stage != curStage || done == 0 {
			finish()
			unit := "items"
			if units != nil {
				unit = units(stage)
			}
			cur, curStage = New(w, prefix+stage, total, unit, 0), stage
		}
		cur.Set(done)
		if done >= total {
			finish()
		}
	}
	return f, func() { mu.Lock(); finish(); mu.Unlock() }
}
