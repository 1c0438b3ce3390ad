package losses

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// specKeys lists, per loss name, the keys its spec accepts.
var specKeys = map[string][]string{
	"contrastive": {"margin", "pos_margin", "normalize"},
	"triplet":     {"margin", "distance", "mining", "soft", "reduction", "normalize"},
	"infonce":     {"temperature", "symmetric", "normalize"},
	"center":      {"alpha", "lambda", "normalize"},
	"circle":      {"m", "gamma", "normalize"},
}

// Names returns the loss names Parse accepts, in a fixed order.
func Names() []string { return []string{"contrastive", "triplet", "infonce", "center", "circle"} }

// Parse builds a loss from a spec NAME[:key=value,...], for example
// "triplet:margin=0.1,mining=semihard". Keys: contrastive margin,
// pos_margin; triplet margin, distance, mining, soft, reduction; infonce
// temperature, symmetric; center alpha, lambda; circle m, gamma; every
// loss normalize. Unset keys take the defaults of DESIGN.md. An unknown
// name or key, a repeated key or a bad value is an error that lists the
// valid choices. The center spec builds the audit form (*Center).
func Parse(spec string) (Loss, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	keys, ok := specKeys[name]
	if !ok {
		return nil, fmt.Errorf("unknown loss %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	kv := map[string]string{}
	if rest != "" {
		for _, part := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(part, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("loss %q: %q is not key=value", spec, part)
			}
			if !slices.Contains(keys, k) {
				return nil, fmt.Errorf("loss %q: unknown key %q for %s (valid: %s)", spec, k, name, strings.Join(keys, ", "))
			}
			if _, dup := kv[k]; dup {
				return nil, fmt.Errorf("loss %q: key %q given twice", spec, k)
			}
			kv[k] = v
		}
	}
	p := specParser{spec: spec, kv: kv}
	for _, k := range []string{"temperature", "gamma"} {
		if f := p.float(k); f != nil && !(*f > 0) {
			return nil, fmt.Errorf("loss %q: %s must be > 0", spec, k)
		}
	}
	var l Loss
	var err error
	switch name {
	case "contrastive":
		l, err = NewContrastive(ContrastiveSettings{Margin: p.float("margin"), PosMargin: orFloat(p.float("pos_margin"), 0),
			Normalize: p.bool("normalize")})
	case "triplet":
		s := TripletSettings{Margin: p.float("margin"), Soft: orBool(p.bool("soft"), false), Normalize: p.bool("normalize")}
		if v, ok := kv["distance"]; ok {
			s.Distance, err = ParseDistance(v)
			p.note(err)
		}
		if v, ok := kv["mining"]; ok {
			s.Mining, err = ParseMining(v)
			p.note(err)
		}
		if v, ok := kv["reduction"]; ok {
			s.Reduction, err = ParseReduction(v)
			p.note(err)
		}
		l, err = NewTriplet(s)
	case "infonce":
		l, err = NewInfoNCE(InfoNCESettings{Temperature: orFloat(p.float("temperature"), 0.07),
			Symmetric: orBool(p.bool("symmetric"), false), Normalize: p.bool("normalize")})
	case "center":
		l, err = NewCenter(CenterSettings{Alpha: p.float("alpha"), Lambda: p.float("lambda"), Normalize: p.bool("normalize")})
	case "circle":
		l, err = NewCircle(CircleSettings{M: p.float("m"), Gamma: orFloat(p.float("gamma"), 80), Normalize: p.bool("normalize")})
	}
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, fmt.Errorf("loss %q: %w", spec, err)
	}
	return l, nil
}

// Spec returns the canonical spec of l with every parameter spelled out
// (keys in the order of the loss's spec keys), e.g.
// "circle:m=0.4,gamma=80,normalize=true".
func Spec(l Loss) string {
	params := l.Params()
	var parts []string
	for _, k := range specKeys[l.Name()] {
		if v, ok := params[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return l.Name() + ":" + strings.Join(parts, ",")
}

type specParser struct {
	spec string
	kv   map[string]string
	err  error
}

func (p *specParser) note(err error) {
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("loss %q: %w", p.spec, err)
	}
}

func (p *specParser) float(k string) *float64 {
	v, ok := p.kv[k]
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		p.note(fmt.Errorf("%s=%q is not a number", k, v))
		return nil
	}
	return &f
}

func (p *specParser) bool(k string) *bool {
	v, ok := p.kv[k]
	if !ok {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.note(fmt.Errorf("%s=%q is not true/false", k, v))
		return nil
	}
	return &b
}
