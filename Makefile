# embfit — see README.md.
GO ?= go
export CGO_ENABLED := 1

.PHONY: setup build test bench default clean

# Fetch everything (ORT, OpenBLAS, default model and data). Idempotent.
setup:
	bash scripts/setup.sh

build:
	$(GO) build -o bin/embfit ./cmd/embfit

# All tests, race detector on. Runs setup first (a no-op once done).
test: setup
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -rf bin
