package losses

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The key table of the package documentation lists every loss, key and
// default of the registry, so the docs cannot drift from the code.
func TestDocTableMatchesRegistry(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	for _, name := range Names() {
		l, err := Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^//\t` + name + `\s`).MatchString(doc) {
			t.Errorf("loss %s is not in the doc table", name)
		}
		_, params, _ := strings.Cut(Spec(l), ":")
		for _, kv := range strings.Split(params, ",") {
			k, v, _ := strings.Cut(kv, "=")
			re := regexp.MustCompile(`(?m)^//\t(\S+)?\s+` + regexp.QuoteMeta(k) + `\s+` + regexp.QuoteMeta(v) + `\s`)
			if !re.MatchString(doc) {
				t.Errorf("%s: key %s with default %s is not in the doc table", name, k, v)
			}
		}
	}
}

// Every registered loss builds from its bare name, reports each of its
// keys in Params, and its canonical spec round-trips.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range registry {
		name := k.lossName()
		if seen[name] {
			t.Fatalf("loss %s registered twice", name)
		}
		seen[name] = true
		l, err := Parse(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.Name() != name {
			t.Errorf("Parse(%q).Name() = %q", name, l.Name())
		}
		params := l.Params()
		for _, key := range k.keys() {
			if _, ok := params[key]; !ok {
				t.Errorf("%s: Params lacks %s", name, key)
			}
		}
		if len(params) != len(k.keys()) {
			t.Errorf("%s: Params %v, keys %v", name, params, k.keys())
		}
		if _, ok := l.(Float64Loss); !ok {
			t.Errorf("%s: not a Float64Loss", name)
		}
	}
}

// A loss with a training form gives one that keeps its parameters; a
// setup it cannot train on is an error.
func TestTrainingForm(t *testing.T) {
	l, err := Parse("center:alpha=0.3,lambda=0.2,normalize=true")
	if err != nil {
		t.Fatal(err)
	}
	tl, ok := l.(TrainingLoss)
	if !ok {
		t.Fatal("center has no training form")
	}
	tr, err := tl.TrainingForm(TrainingSetup{Classes: 4, Dim: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if Spec(tr) != Spec(l) || tr.Name() != "center" {
		t.Errorf("training form %s, loss %s", Spec(tr), Spec(l))
	}
	if _, err := tl.TrainingForm(TrainingSetup{Classes: 0, Dim: 3}); err == nil {
		t.Error("no classes: no error")
	}
	for _, name := range []string{"contrastive", "triplet", "infonce", "circle"} {
		if l, _ := Parse(name); l != nil {
			if _, ok := l.(TrainingLoss); ok {
				t.Errorf("%s has a training form", name)
			}
		}
	}
	// A parameter set out of range on a literal is refused.
	if _, err := NewCenterTrainer(Center{Alpha: 2}, 2, 2, 1); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("alpha 2: err %v", err)
	}
}
