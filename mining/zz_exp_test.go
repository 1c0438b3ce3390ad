package mining

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/embfit/embfit/internal/linalg"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZPipe(t *testing.T) {
	for _, d := range []int{384, 100} {
		nq, nc := 4096, 65536
		r := rand.New(rand.NewPCG(1, 2))
		q, c := linalg.NewMatrix(nq, d), linalg.NewMatrix(nc, d)
		for i := range q.Data {
			q.Data[i] = float32(r.NormFloat64())
		}
		for i := range c.Data {
			c.Data[i] = float32(r.NormFloat64())
		}
		NormalizeRows(q)
		NormalizeRows(c)
		flops := 2 * float64(nq) * float64(nc) * float64(d)
		for rep := 0; rep < 2; rep++ {
			for _, p := range []bool{false, true} {
				pipelined = p
				var res Results
				t0, c0 := time.Now(), cpuTime()
				TopK(t.Context(), &res, q, c, SearchSettings{K: 100}, nil, nil)
				wall, cpu := time.Since(t0), cpuTime()-c0
				t.Logf("d=%d pipelined=%v: wall %v (%.0f GFLOP/s), cpu %v (%.0f GFLOP/cpu-s)", d, p, wall.Round(time.Millisecond), flops/wall.Seconds()/1e9, cpu.Round(time.Millisecond), flops/cpu.Seconds()/1e9)
			}
		}
	}
	pipelined = true
}
