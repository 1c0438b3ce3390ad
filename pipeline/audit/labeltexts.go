package audit

import (
	"bufio"
	"os"

	"github.com/embfit/embfit/pipeline/dataio"
)

// ReadLabelTexts returns the texts (field) of a JSONL labels file of n
// lines, for showing suspects by text. It returns nil — texts are
// optional — when the file cannot be read, does not start with a JSON
// object (a plain one-label-per-line file), has a line without a string
// field, or has other than n records.
func ReadLabelTexts(path, field string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := bufio.NewReader(f).Peek(1)
	if err != nil || b[0] != '{' {
		return nil
	}
	var texts []string
	err = dataio.ReadJSONL(path, func(r dataio.Record) error {
		t, err := r.String(field)
		texts = append(texts, t)
		return err
	})
	if err != nil || len(texts) != n {
		return nil
	}
	return texts
}
