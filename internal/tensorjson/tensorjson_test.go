package tensorjson

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in    string
		vals  []float32
		shape []int64
		err   string
	}{
		{`[1,2,3]`, []float32{1, 2, 3}, []int64{3}, ""},
		{`[[[1],[2]],[[3],[4]]]`, []float32{1, 2, 3, 4}, []int64{2, 2, 1}, ""},
		{`[[1,2],[3]]`, nil, nil, "not a rectangular array"},
		{`[[1,2],3]`, nil, nil, "not a rectangular array"},
		{`[]`, nil, nil, "empty array"},
		{`{"a":1}`, nil, nil, "want an array of numbers"},
		{`["x"]`, nil, nil, "want an array of numbers"},
		{`[1] 2`, nil, nil, "trailing data"},
		{`[1e60]`, nil, nil, "outside the float32 range"},
	} {
		vals, shape, err := Decode([]byte(tc.in))
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			continue
		}
		if err == nil && (!reflect.DeepEqual(vals, tc.vals) || !reflect.DeepEqual(shape, tc.shape)) {
			t.Errorf("%s: %v %v", tc.in, vals, shape)
		}
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	vals := []float32{0, -1.5, float32(math.Pi), 1e-30, 3.4e38, 0.1}
	s := Canonical(vals)
	got := make([]float32, len(vals))
	if err := ParseCanonical(s, got); err != nil || !reflect.DeepEqual(got, vals) {
		t.Fatalf("%s → %v, %v", s, got, err)
	}
	if Canonical([]float32{1, 2}) != "[1,2]" {
		t.Errorf("canonical %s", Canonical([]float32{1, 2}))
	}
}

func TestCheckShape(t *testing.T) {
	for _, tc := range []struct {
		got, want []int64
		err       string
	}{
		{[]int64{76, 32, 1}, []int64{76, 32, 1}, ""},
		{[]int64{2432}, []int64{76, 32, 1}, ""},
		{[]int64{2431}, []int64{76, 32, 1}, "2431 values, the model's item shape [76 32 1] needs 2432"},
		{[]int64{76, 1, 32}, []int64{76, 32, 1}, "dimension 2 has 1 values"},
		{[]int64{76, 32}, []int64{76, 32, 1}, "rank 2"},
	} {
		err := CheckShape(tc.got, tc.want)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckShape(%v, %v) = %v, want %q", tc.got, tc.want, err, tc.err)
		}
	}
}

// FuzzDecode: Decode never panics; what it accepts round-trips through
// Canonical.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`[1,2]`, `[[1],[2]]`, `[[[0.5]]]`, `[`, `[1,[2]]`, `[-0,1e-3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, shape, err := Decode(b)
		if err != nil {
			return
		}
		if Count(shape) != int64(len(vals)) {
			t.Fatalf("shape %v for %d values", shape, len(vals))
		}
		got := make([]float32, len(vals))
		if err := ParseCanonical(Canonical(vals), got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != vals[i] && !(got[i] != got[i] && vals[i] != vals[i]) {
				t.Fatalf("value %d: %v → %v", i, vals[i], got[i])
			}
		}
	})
}

func TestDecodeShapes(t *testing.T) {
	tests := []struct {
		in      string
		vals    int
		shape   []int64
		wantErr string
	}{
		{`[1, 2.5, -3]`, 3, []int64{3}, ""},
		{`[[1,2],[3,4],[5,6]]`, 6, []int64{3, 2}, ""},
		{`[[1,2],[3]]`, 0, nil, "rectangular"},
		{`[[1,2],3]`, 0, nil, "rectangular"},
		{`"x"`, 0, nil, "array of numbers"},
		{`[]`, 0, nil, "empty"},
		{`[1,"a"]`, 0, nil, "array of numbers"},
		{`[1e39, 1]`, 0, nil, "1e39 is outside the float32 range"},
		{`[1e-50, 1]`, 2, []int64{2}, ""},
	}
	for _, tc := range tests {
		vals, shape, err := Decode([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(vals) != tc.vals || !slices.Equal(shape, tc.shape) {
			t.Errorf("%s: %v %v %v", tc.in, vals, shape, err)
		}
	}
}
