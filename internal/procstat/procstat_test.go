package procstat

import (
	"runtime"
	"testing"
)

func TestCPUTimeAndPeakRSS(t *testing.T) {
	c0 := CPUTime()
	x := 0.0
	for i := range 20_000_000 {
		x += float64(i)
	}
	runtime.KeepAlive(x)
	if c1 := CPUTime(); c1 <= c0 {
		t.Errorf("CPU time did not advance: %v → %v", c0, c1)
	}
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	runtime.KeepAlive(buf)
	if rss := PeakRSS(); rss < 64<<20 {
		t.Errorf("peak RSS %d bytes after touching 64 MiB", rss)
	}
}
