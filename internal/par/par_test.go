package par

import (
	"runtime"
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
