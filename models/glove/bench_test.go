package glove

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkReadWink parses a synthetic 20,000-word, 100-d wink file
// keeping the 5,000 most frequent words (the real file: 341,479 words,
// 50,000 kept); it reports MB/s of JSON.
func BenchmarkReadWink(b *testing.B) {
	const n, dim = 20000, 100
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"precision":8,"l2NormIndex":%d,"wordIndex":%d,"size":%d,"dimensions":%d,"words":[`, dim, dim+1, n, dim)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"w%d"`, i)
	}
	sb.WriteString(`],"vectors":{`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"w%d":[`, i)
		ss := 0.0
		for j := 0; j < dim; j++ {
			x := math.Round(rng.NormFloat64()*1e6) / 1e6
			ss += x * x
			fmt.Fprintf(&sb, "%v,", x)
		}
		fmt.Fprintf(&sb, "%.8f,%d]", math.Sqrt(ss), i)
	}
	sb.WriteString(`}}`)
	in := sb.String()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		v, err := ReadWink(strings.NewReader(in), "bench.json", 5000)
		if err != nil || len(v.Words) != 5000 {
			b.Fatal(err)
		}
	}
}
