package shard

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/embfit/embfit/mining"
)

func samplePartial(t testing.TB) []byte {
	var b bytes.Buffer
	w, err := newPartialWriter(&b, PartialHeader{Task: 1, Q0: 3, Q1: 5, C0: 10, C1: 20, RangeMax: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.add(&mining.Candidates{Positives: []mining.PositiveScore{{Slot: 0, Score: 0.5}, {Slot: 2, Score: -0.25}},
		Hits: []mining.Hit{{Index: 12, Score: 0.9}, {Index: 11, Score: 0.5}, {Index: 15, Score: 0.5}}})
	w.add(&mining.Candidates{Zero: true})
	w.close(&b)
	return b.Bytes()
}

// readAll reads a partial to its end.
func readAll(data []byte) ([]mining.Candidates, error) {
	r, err := NewPartialReader(bytes.NewReader(data), "p")
	if err != nil {
		return nil, err
	}
	var out []mining.Candidates
	for {
		var c mining.Candidates
		_, err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

func TestPartialRoundTrip(t *testing.T) {
	got, err := readAll(samplePartial(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Hits) != 3 || got[0].Hits[2].Index != 15 || got[0].Positives[1].Score != -0.25 || !got[1].Zero {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestPartialRejects(t *testing.T) {
	good := samplePartial(t)
	for name, mutate := range map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:len(b)-1] },
		"trailing":      func(b []byte) []byte { return append(b, 0) },
		"bit flip":      func(b []byte) []byte { b[len(b)-8] ^= 4; return b },
		"magic":         func(b []byte) []byte { b[0] = 'x'; return b },
		"empty":         func(b []byte) []byte { return nil },
		"header length": func(b []byte) []byte { b[len(partialMagic)+3] = 0x7f; return b },
	} {
		if _, err := readAll(mutate(bytes.Clone(good))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Well-formed but out of rank order or outside the shard: rejected
	// even with a valid checksum.
	for name, c := range map[string]mining.Candidates{
		"order": {Hits: []mining.Hit{{Index: 12, Score: 0.1}, {Index: 11, Score: 0.9}}},
		"tie":   {Hits: []mining.Hit{{Index: 12, Score: 0.5}, {Index: 11, Score: 0.5}}},
		"range": {Hits: []mining.Hit{{Index: 20, Score: 0.5}}},
		"count": {Hits: []mining.Hit{{Index: 10, Score: 4}, {Index: 11, Score: 3}, {Index: 12, Score: 2}, {Index: 13, Score: 1}}},
		"slots": {Positives: []mining.PositiveScore{{Slot: 1}, {Slot: 1}}},
	} {
		var b bytes.Buffer
		w, _ := newPartialWriter(&b, PartialHeader{Task: 0, Q0: 0, Q1: 1, C0: 10, C1: 20, RangeMax: 3})
		w.add(&c)
		w.close(&b)
		if _, err := readAll(b.Bytes()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzPartialReader(f *testing.F) {
	f.Add(samplePartial(f))
	f.Add([]byte(partialMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readAll(data)
		if err != nil {
			return
		}
		// Whatever is accepted is well-formed.
		for _, c := range got {
			for i := 1; i < len(c.Hits); i++ {
				if !ranksBefore(c.Hits[i-1], c.Hits[i]) {
					t.Fatal("accepted hits out of order")
				}
			}
		}
	})
}
