package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestEach checks that every item runs once, that worker indices stay in
// range and that the caller takes part (worker 0).
func TestEach(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 3, 100} {
			for _, workers := range []int{0, 1, 3, Workers(n)} {
				seen := make([]int32, n)
				var byWorker [8]atomic.Int32
				Each(workers, n, func(w, i int) {
					if w < 0 || w >= max(1, workers) {
						t.Errorf("worker %d of %d", w, workers)
						return
					}
					atomic.AddInt32(&seen[i], 1)
					byWorker[w].Add(1)
				})
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("procs %d n %d workers %d: item %d ran %d times", procs, n, workers, i, c)
					}
				}
				if n > 0 && workers <= 1 && int(byWorker[0].Load()) != n {
					t.Fatalf("one worker: the caller ran %d of %d items", byWorker[0].Load(), n)
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
	if w := Workers(0); w != 1 {
		t.Fatalf("Workers(0) = %d", w)
	}
}

// TestRanges checks that the parts cover [0, n) exactly once, in
// contiguous ranges fixed by n and parts alone.
func TestRanges(t *testing.T) {
	for _, tc := range []struct{ workers, parts, n int }{
		{1, 1, 10}, {2, 4, 10}, {4, 4, 3}, {3, 7, 100}, {2, 0, 5}, {2, 3, 0},
	} {
		seen := make([]int32, tc.n)
		var mu sync.Mutex
		got := map[int][2]int{}
		Ranges(tc.workers, tc.parts, tc.n, func(p, lo, hi int) {
			mu.Lock()
			got[p] = [2]int{lo, hi}
			mu.Unlock()
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("%+v: item %d covered %d times", tc, i, c)
			}
		}
		parts := max(1, min(tc.parts, tc.n))
		for p, r := range got {
			if want := [2]int{tc.n * p / parts, tc.n * (p + 1) / parts}; r != want {
				t.Errorf("%+v: part %d is %v, want %v", tc, p, r, want)
			}
		}
	}
}
