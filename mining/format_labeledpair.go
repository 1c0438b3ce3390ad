package mining

// labeledPairFormat writes {"text1","text2","label"}: label 1 for each
// (query, positive) and 0 for each (query, negative), positives first.
var labeledPairFormat = &format{name: "labeled-pair", write: func(o *lineOut, anchor string, r *QueryResult) error {
	emit := func(text, label string) error {
		o.field("text1", anchor, true)
		o.field("text2", text, false)
		o.key("label", false)
		o.buf.WriteString(label)
		return o.end()
	}
	for _, pos := range r.Positives {
		if err := emit(o.corpus(pos), "1"); err != nil {
			return err
		}
	}
	for _, n := range r.Negatives {
		if err := emit(o.corpus(int(n.Index)), "0"); err != nil {
			return err
		}
	}
	return nil
}}
