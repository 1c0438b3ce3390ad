package losses_test

import (
	"fmt"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/embfit/embfit/losses"
)

// A loss is parsed from a spec string, then evaluated on raw embeddings
// and labels; the gradient with respect to the raw rows is written into a
// matrix the caller owns.
func Example() {
	x := blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: []float32{
		1, 0.1,
		0.9, 0.2,
		-0.1, 1,
		0.2, 0.8,
	}}
	labels := []int{0, 0, 1, 1}
	loss, err := losses.Parse("triplet:margin=1.5,mining=all")
	if err != nil {
		panic(err)
	}
	grad := blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: make([]float32, 8)}
	v := loss.Eval(losses.Batch{X: x, Labels: labels}, grad)
	fmt.Printf("%s = %.4f\n", losses.Spec(loss), v)
	// Output: triplet:margin=1.5,distance=euclidean,mining=all,soft=false,reduction=avg_nonzero,normalize=true = 0.4949
}

// The pair form of InfoNCE: rows [0,Q) are queries, [Q,2Q) their
// positives, the rest shared negatives.
func ExampleInfoNCE() {
	x := blas32.General{Rows: 5, Cols: 2, Stride: 2, Data: []float32{
		1, 0, // query 0
		0, 1, // query 1
		1, 0.1, // positive 0
		0.1, 1, // positive 1
		-1, 0, // negative
	}}
	l, _ := losses.Parse("infonce:temperature=0.1,symmetric=true")
	v := l.Eval(losses.Batch{X: x, Queries: 2}, blas32.General{})
	fmt.Printf("%.4f\n", v)
	// Output: 0.0001
}

// TripletStats counts triplet categories without enumerating triplets.
func ExampleTripletStats() {
	x := blas32.General{Rows: 4, Cols: 2, Stride: 2, Data: []float32{1, 0, 0.9, 0.2, -0.1, 1, 0.8, 0.5}}
	c := losses.TripletStats(x, []int{0, 0, 1, 1}, losses.Euclidean, 0.2, true)
	fmt.Printf("easy %d, semihard %d, hard %d of %d\n", c.Easy, c.Semihard, c.Hard, c.Total)
	// Output: easy 5, semihard 1, hard 2 of 8
}
