// Package job runs embfit's file-level jobs as named stages over the
// packages below it: TrainJob (read data, embed through the cache, mine
// negatives, train, evaluate, export a run directory) and MineJob (read,
// embed or load embeddings, mine exactly, write the mined file and its
// manifest together).
package job
