package glove_test

import (
	"fmt"

	"github.com/embfit/embfit/models/glove"
)

// Build the encoder graph for a (tiny) vocabulary and show its interface:
// the same as a BERT-style export's.
func ExampleModel() {
	v := &glove.Vectors{
		Words: []string{"the", "fox"},
		Dim:   2,
		Data:  []float32{0.1, 0.2, -0.5, 1.5},
		Unk:   []float32{0, 0},
	}
	m := glove.Model(v)
	fmt.Println(m.Inputs())
	fmt.Println(m.Outputs())
	fmt.Println(glove.Tokens(v.Words))
	// Output:
	// [input_ids int64[batch,sequence] attention_mask int64[batch,sequence]]
	// [last_hidden_state float32[batch,sequence,2]]
	// [[PAD] [UNK] the fox]
}
