package spm

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/embfit/embfit/onnx/tokenizer"
)

// proto builds a ModelProto with the given pieces, unk_id and charsmap.
func proto(pieces []Piece, unkID int, charsmap []byte) []byte {
	var b []byte
	for _, p := range pieces {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p.Piece)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.Score))
		m = protowire.AppendTag(m, 3, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(p.Type))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var ts []byte
	ts = protowire.AppendTag(ts, 3, protowire.VarintType)
	ts = protowire.AppendVarint(ts, 1)
	ts = protowire.AppendTag(ts, 40, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(unkID))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	if charsmap != nil {
		var ns []byte
		ns = protowire.AppendTag(ns, 2, protowire.BytesType)
		ns = protowire.AppendBytes(ns, charsmap)
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, ns)
	}
	return b
}

var small = []Piece{{"<unk>", 0, typeUnknown}, {"<s>", 0, typeControl}, {"</s>", 0, typeControl}, {"▁", -2, typeNormal}, {"▁a", -1, typeNormal}, {"b", -3, typeNormal}}

func TestConvert(t *testing.T) {
	m, err := Parse(proto(small, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	j, err := m.TokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Parse(j)
	if err != nil {
		t.Fatal(err)
	}
	e, err := tk.EncodeText("a  b", 0)
	if err != nil {
		t.Fatal(err)
	}
	// <s> ▁a ▁ b </s>: the run of spaces becomes one "▁".
	if got := strings.Join(e.Tokens, " "); got != "<s> ▁a ▁ b </s>" {
		t.Errorf("tokens %q", got)
	}
	p, err := tk.EncodePair("a", "b", 0)
	if err != nil || len(p.IDs) != 7 || p.IDs[3] != 2 {
		t.Errorf("pair %v %q %v", p.IDs, p.Tokens, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"truncated", proto(small, 0, nil)[:7], "not a SentencePiece model"},
		{"bad unk", proto(small, 9, nil), "unk_id 9"},
		{"garbage", []byte{0xff, 0xff, 0xff}, "not a SentencePiece model"},
	}
	for _, tc := range tests {
		if _, err := Parse(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestWordNetModel reads the model make setup trains
// (scripts/setup-tokenizers.sh) and checks the conversion.
func TestWordNetModel(t *testing.T) {
	p := filepath.Join("..", "..", "..", ".cache", "tokenizers", "wordnet-unigram", "spm.model")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v: run `make setup` first", err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pieces) != 4000 || m.UnkID != 0 || m.ModelType != 1 || len(m.Charsmap) == 0 || m.NormalizerName != "nmt_nfkc" || !m.AddDummyPrefix {
		t.Errorf("%d pieces, unk %d, type %d, charsmap %d bytes, normalizer %q, dummy prefix %v",
			len(m.Pieces), m.UnkID, m.ModelType, len(m.Charsmap), m.NormalizerName, m.AddDummyPrefix)
	}
	j, err := m.TokenizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Normalizer struct {
			Normalizers []struct{ Type string } `json:"normalizers"`
		} `json:"normalizer"`
	}
	if err := json.Unmarshal(j, &doc); err != nil || len(doc.Normalizer.Normalizers) != 3 || doc.Normalizer.Normalizers[0].Type != "Precompiled" {
		t.Errorf("normalizer %+v %v", doc.Normalizer, err)
	}
	if _, err := tokenizer.Parse(j); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(proto(small, 0, nil))
	f.Add(proto(small, 3, []byte{4, 0, 0, 0, 1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		if j, err := m.TokenizerJSON(); err == nil {
			if _, err := tokenizer.Parse(j); err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
		}
	})
}
