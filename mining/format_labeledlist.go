package mining

// labeledListFormat writes {"anchor","positive":[positive, negative_1, …],
// "labels":[1, 0, …]}: one line per query and positive, the positive
// first and then the query's negatives in rank order, as
// sentence-transformers' mine_hard_negatives writes its "labeled-list"
// output (e.g. for listwise cross-encoder losses). A query with no
// negative writes no line; its rows are counted in
// OutputInfo.SkippedShort.
var labeledListFormat = &format{name: "labeled-list", write: func(o *lineOut, anchor string, r *QueryResult) error {
	if len(r.Negatives) == 0 {
		o.info.SkippedShort += len(r.Positives)
		return nil
	}
	for _, pos := range r.Positives {
		o.field("anchor", anchor, true)
		o.key("positive", false)
		o.buf.WriteByte('[')
		o.str(o.corpus(pos))
		for _, n := range r.Negatives {
			o.buf.WriteByte(',')
			o.str(o.corpus(int(n.Index)))
		}
		o.buf.WriteString(`],"labels":[1`)
		for range r.Negatives {
			o.buf.WriteString(",0")
		}
		o.buf.WriteByte(']')
		if err := o.end(); err != nil {
			return err
		}
	}
	return nil
}}
