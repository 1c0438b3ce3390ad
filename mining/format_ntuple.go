package mining

import "strconv"

// nTupleFormat writes {"anchor","positive","negative_1",…,"negative_k"}:
// one line per query and positive. Queries with fewer than num_negatives
// negatives are left out and counted in OutputInfo.SkippedShort.
var nTupleFormat = &format{name: "n-tuple", write: func(o *lineOut, anchor string, r *QueryResult) error {
	return writeNTuple(o, anchor, r, false)
}}

// nTupleScoresFormat is nTupleFormat plus "scores": [s(anchor,positive),
// s(anchor,negative_1), …], shortest round-trip decimals.
var nTupleScoresFormat = &format{name: "n-tuple-scores", write: func(o *lineOut, anchor string, r *QueryResult) error {
	return writeNTuple(o, anchor, r, true)
}}

func writeNTuple(o *lineOut, anchor string, r *QueryResult, scores bool) error {
	if len(r.Negatives) < o.m.Settings.NumNegatives {
		o.info.SkippedShort += len(r.Positives)
		return nil
	}
	for i, pos := range r.Positives {
		o.field("anchor", anchor, true)
		o.field("positive", o.corpus(pos), false)
		for k, n := range r.Negatives {
			o.field("negative_"+strconv.Itoa(k+1), o.corpus(int(n.Index)), false)
		}
		if scores {
			o.key("scores", false)
			b := o.buf.AvailableBuffer()
			b = append(b, '[')
			b = strconv.AppendFloat(b, r.PositiveScores[i], 'g', -1, 64)
			for _, n := range r.Negatives {
				b = append(b, ',')
				b = strconv.AppendFloat(b, n.Score, 'g', -1, 64)
			}
			o.buf.Write(append(b, ']'))
		}
		if err := o.end(); err != nil {
			return err
		}
	}
	return nil
}
