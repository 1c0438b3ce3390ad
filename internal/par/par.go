// Package par runs the items of a loop on several goroutines.
//
// It is the one fan-out mechanism of the numeric packages: items are
// handed out in order from a shared counter as goroutines ask for them
// (so one that starts late, or gets a slow item, does not hold the others
// up), and the calling goroutine is one of the workers. Which goroutine
// runs which item varies from run to run: callers keep results per item
// (or per fixed group of items) so that they do not depend on it.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns the number of goroutines to use for n items: GOMAXPROCS,
// but not more than n, and at least 1.
func Workers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// Each calls f(w, i) once for every i in [0, n), from workers goroutines
// (at least 1), the caller's included; w in [0, workers) identifies the
// goroutine, so f may use per-goroutine state indexed by it. Each returns
// when all calls have returned.
func Each(workers, n int, f func(w, i int)) {
	if n <= 0 {
		return
	}
	workers = max(1, min(workers, n))
	var next atomic.Int64
	work := func(w int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			f(w, i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
}

// Ranges splits [0, n) into parts contiguous ranges of nearly equal size
// (part p is [n·p/parts, n·(p+1)/parts)) and calls f(p, lo, hi) once for
// each non-empty one, from at most workers goroutines (the caller's
// included) through Each. The split depends only on n and parts, so f may
// keep per-part state indexed by p whatever goroutine runs it. Ranges
// returns when all calls have returned.
func Ranges(workers, parts, n int, f func(p, lo, hi int)) {
	if n <= 0 {
		return
	}
	parts = max(1, min(parts, n))
	Each(min(workers, parts), parts, func(_, p int) {
		if lo, hi := n*p/parts, n*(p+1)/parts; hi > lo {
			f(p, lo, hi)
		}
	})
}
