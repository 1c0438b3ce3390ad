package tokenizer_test

import (
	"fmt"

	"github.com/embfit/embfit/onnx/tokenizer"
)

func ExampleTokenizer_Encode() {
	tk, err := tokenizer.Parse([]byte(`{
	  "normalizer": {"type": "BertNormalizer", "lowercase": true},
	  "pre_tokenizer": {"type": "BertPreTokenizer"},
	  "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1], "sep": ["[SEP]", 2]},
	  "model": {"type": "WordPiece", "unk_token": "[UNK]",
	            "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "cafe": 3, "!": 4, "play": 5, "##ing": 6}}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	e := tk.Encode("Café playing!", 0)
	fmt.Println(e.IDs, e.Tokens)
	// Output: [1 3 5 6 4 2] [[CLS] cafe play ##ing ! [SEP]]
}
