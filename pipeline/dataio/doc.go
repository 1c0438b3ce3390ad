// Package dataio reads and writes the files embfit's jobs exchange:
// JSON Lines records with the file and line of every error, float32 .npy
// matrices (byte-identical to numpy.save), label files, pair and labelled
// datasets, and the sidecar that says which row of an embeddings file came
// from which input line.
//
// Every error about a user's input is an *InputError (errors.As finds it)
// naming the file and, where there is one, the line.
package dataio

import "github.com/embfit/embfit/internal/inputerr"

// InputError is a user's bad input with where it came from: File and Line
// for a file's contents, Setting for a library setting (in snake_case, as
// in config.json). Commands map a Setting to their own vocabulary.
type InputError = inputerr.Error
