package losses

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/embfit/embfit/internal/inputerr"
)

// registry lists the losses Parse knows, in the order Names reports them.
// Adding a loss is one new file holding its type and its definition (a
// *def value, see def) plus its entry here.
var registry = []kind{contrastiveDef, tripletDef, infonceDef, centerDef, circleDef}

// kind is one entry of the registry: a loss name, its spec keys and how to
// build the loss from a spec's key=value pairs. *def[T] implements it.
type kind interface {
	lossName() string
	keys() []string
	build(kv map[string]string) (Loss, error)
}

// Names returns the loss names Parse accepts, in a fixed order.
func Names() []string {
	out := make([]string, len(registry))
	for i, k := range registry {
		out[i] = k.lossName()
	}
	return out
}

func lookup(name string) kind {
	for _, k := range registry {
		if k.lossName() == name {
			return k
		}
	}
	return nil
}

// Parse builds a loss from a spec NAME[:key=value,...], for example
// "triplet:margin=0.1,mining=semihard". The keys of each loss, their
// defaults and their ranges are listed in the package documentation;
// unset keys take their defaults. An unknown name or key, a repeated key,
// a value that does not parse and a number that is not finite or out of
// its range are errors (an *inputerr.Error for the setting "loss") that
// name the spec and, for names and keys, list the valid ones.
//
// A loss with a separate training form (see TrainingLoss) is returned in
// its evaluation form.
func Parse(spec string) (Loss, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	k := lookup(name)
	if k == nil {
		return nil, inputerr.Settingf("loss", "unknown loss %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	kv := map[string]string{}
	if rest != "" {
		keys := k.keys()
		for _, part := range strings.Split(rest, ",") {
			key, v, ok := strings.Cut(part, "=")
			key, v = strings.TrimSpace(key), strings.TrimSpace(v)
			if !ok || key == "" {
				return nil, inputerr.Settingf("loss", "%q: %q is not key=value", spec, part)
			}
			if !slices.Contains(keys, key) {
				return nil, inputerr.Settingf("loss", "%q: unknown key %q for %s (valid: %s)", spec, key, name, strings.Join(keys, ", "))
			}
			if _, dup := kv[key]; dup {
				return nil, inputerr.Settingf("loss", "%q: key %q given twice", spec, key)
			}
			kv[key] = v
		}
	}
	l, err := k.build(kv)
	if err != nil {
		return nil, inputerr.Settingf("loss", "%q: %w", spec, err)
	}
	return l, nil
}

// SplitWeight splits a weighted spec "W*SPEC" into the weight W and SPEC;
// without a "*" the weight is 1 and SPEC is the whole string. W must be a
// finite number > 0; otherwise the error is an *inputerr.Error for the
// setting "loss". SPEC itself is not parsed (see ParseWeighted).
func SplitWeight(spec string) (weight float64, rest string, err error) {
	w, rest, ok := strings.Cut(spec, "*")
	if !ok {
		return 1, spec, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, "", inputerr.Settingf("loss", "%q: weight %q must be a finite positive number", spec, strings.TrimSpace(w))
	}
	return v, rest, nil
}

// ParseWeighted parses a weighted spec "[W*]NAME[:key=value,...]", for
// example "0.5*triplet:margin=0.1": the weight (1 without a prefix; a
// finite number > 0) and the loss, as SplitWeight and Parse.
func ParseWeighted(spec string) (weight float64, l Loss, err error) {
	weight, rest, err := SplitWeight(spec)
	if err != nil {
		return 0, nil, err
	}
	if l, err = Parse(rest); err != nil {
		return 0, nil, err
	}
	return weight, l, nil
}

// Spec returns the canonical spec of l with every parameter spelled out,
// in the order of the loss's keys, e.g. "circle:m=0.4,gamma=80,normalize=true".
// Parse(Spec(l)) builds a loss with the same parameters.
func Spec(l Loss) string {
	params := l.Params()
	var parts []string
	if k := lookup(l.Name()); k != nil {
		for _, key := range k.keys() {
			if v, ok := params[key]; ok {
				parts = append(parts, fmt.Sprintf("%s=%v", key, v))
			}
		}
	}
	return l.Name() + ":" + strings.Join(parts, ",")
}

// def is the one table describing a loss whose type is T: its name, its
// parameters (each bound to a field of T, with its default and range) and
// an optional check across parameters. Parse, Spec and the loss's Params
// method are all driven by it, so a parameter is declared once.
type def[T any] struct {
	name   string
	params []param[T]
	// check, when set, validates the parameters together after each has
	// been set and range-checked.
	check func(*T) error
}

// param is one spec key of a loss of type T.
type param[T any] struct {
	key string
	// def is the default in spec syntax; set is applied to it first.
	def string
	// set parses v and stores it in l, or reports why it is not valid.
	set func(l *T, v string) error
	// get returns the field's value as Params reports it (float64, bool or
	// the name of an enumerated value).
	get func(l *T) any
	// valid, when set, reports why the field's value is out of range.
	valid func(l *T) error
}

func (d *def[T]) lossName() string { return d.name }

func (d *def[T]) keys() []string {
	out := make([]string, len(d.params))
	for i, p := range d.params {
		out[i] = p.key
	}
	return out
}

func (d *def[T]) build(kv map[string]string) (Loss, error) {
	l := new(T)
	for _, p := range d.params {
		if err := p.set(l, p.def); err != nil {
			panic(fmt.Sprintf("losses: default of %s %s: %v", d.name, p.key, err))
		}
	}
	for _, p := range d.params {
		if v, ok := kv[p.key]; ok {
			if err := p.set(l, v); err != nil {
				return nil, err
			}
		}
	}
	if err := d.validate(l); err != nil {
		return nil, err
	}
	return any(l).(Loss), nil
}

// validate reports the first parameter of l outside its range, then runs
// the check across parameters.
func (d *def[T]) validate(l *T) error {
	for _, p := range d.params {
		if p.valid != nil {
			if err := p.valid(l); err != nil {
				return err
			}
		}
	}
	if d.check != nil {
		return d.check(l)
	}
	return nil
}

// values returns the parameters of l by key, as Loss.Params.
func (d *def[T]) values(l *T) map[string]any {
	m := make(map[string]any, len(d.params))
	for _, p := range d.params {
		m[p.key] = p.get(l)
	}
	return m
}

// interval is the range of a numeric parameter; every value must also be
// finite. An infinite bound means no bound on that side.
type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

var (
	anyFinite   = interval{lo: math.Inf(-1), hi: math.Inf(1)}
	nonNegative = interval{lo: 0, hi: math.Inf(1)}
	positive    = interval{lo: 0, hi: math.Inf(1), loOpen: true}
	unit        = interval{lo: 0, hi: 1}
)

func (r interval) contains(v float64) bool {
	if v < r.lo || v > r.hi {
		return false
	}
	return !(r.loOpen && v == r.lo) && !(r.hiOpen && v == r.hi)
}

// String describes r as the error messages and docs spell it: "> 0",
// "≥ 0", "in [0, 1]" or "finite".
func (r interval) String() string {
	lo, hi := !math.IsInf(r.lo, -1), !math.IsInf(r.hi, 1)
	switch {
	case lo && hi:
		l, h := "[", "]"
		if r.loOpen {
			l = "("
		}
		if r.hiOpen {
			h = ")"
		}
		return fmt.Sprintf("in %s%g, %g%s", l, r.lo, r.hi, h)
	case lo && r.loOpen:
		return fmt.Sprintf("> %g", r.lo)
	case lo:
		return fmt.Sprintf("≥ %g", r.lo)
	case hi && r.hiOpen:
		return fmt.Sprintf("< %g", r.hi)
	case hi:
		return fmt.Sprintf("≤ %g", r.hi)
	}
	return "finite"
}

// floatParam declares a numeric parameter with default def, which must be
// finite and within r.
func floatParam[T any](key string, def float64, r interval, field func(*T) *float64) param[T] {
	return param[T]{key: key, def: strconv.FormatFloat(def, 'g', -1, 64),
		set: func(l *T, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil && !isRangeErr(err) {
				return fmt.Errorf("%s=%q is not a number", key, v)
			}
			*field(l) = f
			return nil
		},
		get: func(l *T) any { return *field(l) },
		valid: func(l *T) error {
			switch f := *field(l); {
			case math.IsNaN(f) || math.IsInf(f, 0):
				return fmt.Errorf("%s must be a finite number, got %v", key, f)
			case !r.contains(f):
				return fmt.Errorf("%s must be %v, got %v", key, r, f)
			}
			return nil
		}}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// boolParam declares a true/false parameter with default def.
func boolParam[T any](key string, def bool, field func(*T) *bool) param[T] {
	return param[T]{key: key, def: strconv.FormatBool(def),
		set: func(l *T, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not true/false", key, v)
			}
			*field(l) = b
			return nil
		},
		get: func(l *T) any { return *field(l) }}
}

// enumParam declares a parameter taking one of the names in e, stored as
// its index (the enumerated type E counts from 0 in the order of names).
func enumParam[T any, E interface {
	~int
	String() string
}](key string, def E, e enum, field func(*T) *E) param[T] {
	return param[T]{key: key, def: e.names[def],
		set: func(l *T, v string) error {
			i, err := e.parse(v)
			if err != nil {
				return err
			}
			*field(l) = E(i)
			return nil
		},
		get: func(l *T) any { return (*field(l)).String() },
		valid: func(l *T) error {
			if v := int(*field(l)); v < 0 || v >= len(e.names) {
				return fmt.Errorf("invalid %s %d", e.what, v)
			}
			return nil
		}}
}

// enum names the values of an enumerated parameter; what is how an unknown
// name is reported ("unknown distance ...").
type enum struct {
	what  string
	names []string
}

func (e enum) parse(s string) (int, error) {
	if i := slices.Index(e.names, s); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("unknown %s %q (valid: %s)", e.what, s, strings.Join(e.names, ", "))
}

// name returns the name of value i, or type(i) for a value outside the
// enumeration.
func (e enum) name(typ string, i int) string {
	if i >= 0 && i < len(e.names) {
		return e.names[i]
	}
	return fmt.Sprintf("%s(%d)", typ, i)
}
