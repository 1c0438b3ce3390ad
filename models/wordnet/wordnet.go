// Package wordnet parses the Princeton WordNet database files (format
// wndb(5WN): dict/data.{noun,verb,adj,adv} and dict/index.{noun,verb,adj,adv})
// and builds embfit's default text data sets from them: one gloss per
// synset, lemma→gloss pairs (a reverse-dictionary retrieval task),
// example→gloss pairs, and a seeded train/dev/test split of synsets.
//
// Synset ids follow NLTK's naming, e.g. "dog.n.01": the synset's first lemma
// (lower-cased, underscores kept), its part of speech (n, v, a, s for
// adjective satellites, r), and the 1-based position of the synset among that
// lemma's senses in dict/index.<pos>. Labels are lexicographer file names
// such as "noun.animal".
package wordnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LexNames are the 45 WordNet lexicographer file names, indexed by the
// two-digit lex_filenum of a data line (wninput(5WN), lexnames(5WN)). The
// npm package does not ship dict/lexnames; this is its fixed content.
var LexNames = [...]string{
	"adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
	"noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
	"noun.communication", "noun.event", "noun.feeling", "noun.food",
	"noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
	"noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
	"noun.quantity", "noun.relation", "noun.shape", "noun.state",
	"noun.substance", "noun.time", "verb.body", "verb.change",
	"verb.cognition", "verb.communication", "verb.competition",
	"verb.consumption", "verb.contact", "verb.creation", "verb.emotion",
	"verb.motion", "verb.perception", "verb.possession", "verb.social",
	"verb.stative", "verb.weather", "adj.ppl",
}

// Files are the data/index file suffixes, in the order the data sets list
// synsets.
var Files = []string{"noun", "verb", "adj", "adv"}

// Synset is one parsed line of a data.<pos> file.
type Synset struct {
	// Offset is the synset_offset: the byte offset of the line in its file.
	Offset int64
	// POS is the ss_type: 'n', 'v', 'a', 's' (adjective satellite) or 'r'.
	POS byte
	// LexFile is the lex_filenum, an index into LexNames.
	LexFile int
	// Words are the synset's lemmas as stored (underscores for spaces), with
	// adjective markers such as "(a)" removed.
	Words []string
	// Definition is the gloss without its example sentences, e.g.
	// "a member of the genus Canis (probably descended from the common wolf)
	// that has been domesticated by man since prehistoric times; occurs in
	// many breeds".
	Definition string
	// Examples are the quoted example sentences of the gloss, without quotes.
	Examples []string
	// ID is the NLTK-style name ("dog.n.01"); set by AssignIDs.
	ID string
}

// Label returns the lexicographer file name, e.g. "noun.animal".
func (s *Synset) Label() string { return LexNames[s.LexFile] }

// Lemmas returns the lemmas as text: underscores become spaces, joined by
// ", " (e.g. "dog, domestic dog, Canis familiaris").
func (s *Synset) Lemmas() string {
	parts := make([]string, len(s.Words))
	for i, w := range s.Words {
		parts[i] = strings.ReplaceAll(w, "_", " ")
	}
	return strings.Join(parts, ", ")
}

// Key returns "<pos><offset>" with the offset in 8 digits, e.g.
// "n02086723": the synset's identity in this WordNet version. Satellites use
// their own ss_type 's'.
func (s *Synset) Key() string { return fmt.Sprintf("%c%08d", s.POS, s.Offset) }

// isHeader reports whether a line is part of the license header that opens
// every WordNet database file (such lines start with two spaces).
func isHeader(line string) bool { return strings.HasPrefix(line, "  ") }

// ParseData reads a data.<pos> file and calls fn for every synset, in file
// order. name is used in error messages ("data.noun:123: ..."). It checks
// that each synset_offset equals the line's byte offset.
func ParseData(r io.Reader, name string, fn func(*Synset) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var off int64
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		if line == "" && err == io.EOF {
			return nil
		}
		start := off
		off += int64(len(line))
		text := strings.TrimRight(line, "\r\n")
		if !isHeader(text) && text != "" {
			s, perr := parseDataLine(text)
			if perr != nil {
				return fmt.Errorf("%s:%d: %w", name, lineNo, perr)
			}
			if s.Offset != start {
				return fmt.Errorf("%s:%d: synset_offset %08d but the line starts at byte %d", name, lineNo, s.Offset, start)
			}
			if err := fn(s); err != nil {
				return fmt.Errorf("%s:%d: %w", name, lineNo, err)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func parseDataLine(line string) (*Synset, error) {
	bar := strings.Index(line, " | ")
	var fields []string
	gloss := ""
	if bar >= 0 {
		fields = strings.Fields(line[:bar])
		gloss = strings.TrimSpace(line[bar+3:])
	} else {
		fields = strings.Fields(line)
	}
	if len(fields) < 6 {
		return nil, errors.New("too few fields for a data line")
	}
	s := &Synset{}
	var err error
	if s.Offset, err = strconv.ParseInt(fields[0], 10, 64); err != nil || len(fields[0]) != 8 {
		return nil, fmt.Errorf("bad synset_offset %q", fields[0])
	}
	lex, err := strconv.Atoi(fields[1])
	if err != nil || lex < 0 || lex >= len(LexNames) {
		return nil, fmt.Errorf("bad lex_filenum %q", fields[1])
	}
	s.LexFile = lex
	if len(fields[2]) != 1 || !strings.Contains("nvasr", fields[2]) {
		return nil, fmt.Errorf("bad ss_type %q", fields[2])
	}
	s.POS = fields[2][0]
	wcnt, err := strconv.ParseUint(fields[3], 16, 8)
	if err != nil || wcnt == 0 {
		return nil, fmt.Errorf("bad w_cnt %q", fields[3])
	}
	i := 4
	if len(fields) < i+2*int(wcnt)+1 {
		return nil, fmt.Errorf("w_cnt %d but only %d fields", wcnt, len(fields))
	}
	for k := 0; k < int(wcnt); k++ {
		s.Words = append(s.Words, stripMarker(fields[i]))
		i += 2
	}
	pcnt, err := strconv.Atoi(fields[i])
	if err != nil || len(fields) < i+1+4*pcnt {
		return nil, fmt.Errorf("bad p_cnt %q", fields[i])
	}
	s.Definition, s.Examples = SplitGloss(gloss)
	return s, nil
}

// stripMarker removes an adjective syntactic marker: "(a)", "(p)" or "(ip)"
// at the end of a lemma.
func stripMarker(w string) string {
	for _, m := range []string{"(a)", "(p)", "(ip)"} {
		if strings.HasSuffix(w, m) {
			return w[:len(w)-len(m)]
		}
	}
	return w
}

// SplitGloss splits a gloss into its definition and its example sentences.
// The gloss is a list of parts separated by ";" outside double quotes;
// parts that start with a double quote (or follow `: ` in a definition part)
// hold examples (each quoted span is
// one example; attributions after the closing quote, such as `- Shakespeare`,
// are dropped); the other parts form the definition, re-joined with "; ".
func SplitGloss(gloss string) (definition string, examples []string) {
	var defs []string
	for _, part := range splitOutsideQuotes(gloss) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if part[0] != '"' {
			// A few glosses introduce their example with a colon instead
			// of a semicolon: `act of ...: "mobilization of the troops"`.
			k := strings.Index(part, `: "`)
			if k < 0 {
				defs = append(defs, part)
				continue
			}
			defs = append(defs, strings.TrimSpace(part[:k]))
			part = part[k+2:]
		}
		rest := part
		for {
			open := strings.IndexByte(rest, '"')
			if open < 0 {
				break
			}
			end := strings.IndexByte(rest[open+1:], '"')
			if end < 0 {
				if ex := strings.TrimSpace(rest[open+1:]); ex != "" {
					examples = append(examples, ex)
				}
				break
			}
			if ex := strings.TrimSpace(rest[open+1 : open+1+end]); ex != "" {
				examples = append(examples, ex)
			}
			rest = rest[open+1+end+1:]
		}
	}
	return strings.Join(defs, "; "), examples
}

func splitOutsideQuotes(s string) []string {
	var parts []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// SenseIndex maps a lower-cased lemma (underscores kept) and an index-file
// part of speech ('n', 'v', 'a', 'r') to the lemma's synset offsets in sense
// order, as listed in dict/index.<pos>.
type SenseIndex map[string]map[byte][]int64

// ParseIndex reads an index.<pos> file into idx. name is used in errors.
func ParseIndex(r io.Reader, name string, idx SenseIndex) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if isHeader(line) || line == "" {
			continue
		}
		f := strings.Fields(line)
		// lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
		if len(f) < 6 {
			return fmt.Errorf("%s:%d: too few fields for an index line", name, lineNo)
		}
		if len(f[1]) != 1 || !strings.Contains("nvar", f[1]) {
			return fmt.Errorf("%s:%d: bad pos %q", name, lineNo, f[1])
		}
		cnt, err1 := strconv.Atoi(f[2])
		pcnt, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || len(f) != 4+pcnt+2+cnt {
			return fmt.Errorf("%s:%d: field counts do not add up", name, lineNo)
		}
		offs := make([]int64, cnt)
		for k, v := range f[4+pcnt+2:] {
			o, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s:%d: bad synset_offset %q", name, lineNo, v)
			}
			offs[k] = o
		}
		m := idx[f[0]]
		if m == nil {
			m = map[byte][]int64{}
			idx[f[0]] = m
		}
		m[f[1][0]] = offs
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// AssignIDs sets ID on every synset to its NLTK-style name
// "<first lemma>.<pos>.<NN>" using idx. Satellites ('s') look their lemma up
// among the adjectives ('a'). It fails if a first lemma's senses do not list
// the synset or if two synsets get the same name.
func AssignIDs(synsets []*Synset, idx SenseIndex) error {
	seen := make(map[string]string, len(synsets))
	for _, s := range synsets {
		lemma := strings.ToLower(s.Words[0])
		ipos := s.POS
		if ipos == 's' {
			ipos = 'a'
		}
		sense := 0
		for k, o := range idx[lemma][ipos] {
			if o == s.Offset {
				sense = k + 1
				break
			}
		}
		if sense == 0 {
			return fmt.Errorf("synset %s: lemma %q does not list it in index.%s", s.Key(), lemma, posFile(ipos))
		}
		s.ID = fmt.Sprintf("%s.%c.%02d", lemma, s.POS, sense)
		if prev, ok := seen[s.ID]; ok {
			return fmt.Errorf("synsets %s and %s both named %s", prev, s.Key(), s.ID)
		}
		seen[s.ID] = s.Key()
	}
	return nil
}

func posFile(pos byte) string {
	switch pos {
	case 'n':
		return "noun"
	case 'v':
		return "verb"
	case 'a', 's':
		return "adj"
	case 'r':
		return "adv"
	}
	return string(pos)
}
