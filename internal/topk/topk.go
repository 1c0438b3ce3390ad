// Package topk keeps the k best of a stream of items in a bounded heap.
//
// The heap is a slice whose capacity is k: Push keeps the worst kept item
// at h[0], so a full heap rejects an item that is not better with one
// comparison, and Sort turns the kept items into a ranked list. The order
// is the caller's strict "better" relation; for results that do not depend
// on the order of the pushes it must be total (break ties, for example by
// index).
package topk

import "slices"

// Push offers x to the heap h, which holds len(h) items and keeps at most
// cap(h), and returns the heap (the same backing array). While the heap
// is not full x is added; afterwards x replaces the worst item h[0] if
// better(x, h[0]). Items equal to the worst kept one are not taken.
func Push[T any](h []T, x T, better func(a, b T) bool) []T {
	if n := len(h); n < cap(h) {
		h = append(h, x)
		up(h, n, better)
		return h
	}
	if len(h) == 0 || !better(x, h[0]) {
		return h
	}
	h[0] = x
	down(h, 0, better)
	return h
}

// Sort orders the items of heap h best first, in place, and returns h; h
// is no longer a heap afterwards.
func Sort[T any](h []T, better func(a, b T) bool) []T {
	slices.SortFunc(h, func(a, b T) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	return h
}

// up restores the heap after item i was added: the worst item is at the
// root, a parent is never better than its children.
func up[T any](h []T, i int, better func(a, b T) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(h[p], h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

// down restores the heap after item i was replaced.
func down[T any](h []T, i int, better func(a, b T) bool) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && better(h[l], h[r]) {
			w = r
		}
		if !better(h[i], h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
