package glove

import "unicode"

// isBertPunct is the BERT pre-tokenizer's punctuation test: ASCII
// non-alphanumeric printable characters, or Unicode category P*.
func isBertPunct(c rune) bool {
	if (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) {
		return true
	}
	return unicode.IsPunct(c)
}
