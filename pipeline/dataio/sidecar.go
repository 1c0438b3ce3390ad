package dataio

import (
	"encoding/json"
	"strings"
)

// SidecarPath returns the default sidecar path for an embeddings file.
func SidecarPath(out string) string {
	return strings.TrimSuffix(out, ".npy") + ".ids.jsonl"
}

// SidecarRow is one line of an embeddings sidecar (emb.ids.jsonl): the
// row of the .npy, the 1-based input line it came from, and the input's id
// and label as the input spelled them (compact JSON; absent when the input
// had none).
type SidecarRow struct {
	Row   int             `json:"row"`
	Line  int             `json:"line"`
	ID    json.RawMessage `json:"id,omitempty"`
	Label json.RawMessage `json:"label,omitempty"`
}
