package mining

// tripletFormat writes {"anchor","positive","negative"}: one line per
// query, positive and negative.
var tripletFormat = &format{name: "triplet", write: func(o *lineOut, anchor string, r *QueryResult) error {
	for _, pos := range r.Positives {
		for _, n := range r.Negatives {
			o.field("anchor", anchor, true)
			o.field("positive", o.corpus(pos), false)
			o.field("negative", o.corpus(int(n.Index)), false)
			if err := o.end(); err != nil {
				return err
			}
		}
	}
	return nil
}}
