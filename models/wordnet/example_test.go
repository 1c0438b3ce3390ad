package wordnet_test

import (
	"fmt"
	"strings"

	"github.com/embfit/embfit/models/wordnet"
)

// Parse one line of dict/data.noun.
func ExampleParseData() {
	line := `00000000 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a member of the genus Canis; "the dog barked all night"` + "\n"
	err := wordnet.ParseData(strings.NewReader(line), "data.noun", func(s *wordnet.Synset) error {
		fmt.Println(s.Key(), s.Label())
		fmt.Println(s.Lemmas())
		fmt.Println(s.Definition)
		fmt.Println(s.Examples)
		return nil
	})
	fmt.Println(err)
	// Output:
	// n00000000 noun.animal
	// dog, domestic dog, Canis familiaris
	// a member of the genus Canis
	// [the dog barked all night]
	// <nil>
}
