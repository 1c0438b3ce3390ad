# embfit — see README.md.
GO ?= go
export CGO_ENABLED := 1

.PHONY: setup build test fuzz bench default clean

# Fetch everything (ORT, OpenBLAS, default model and data). Idempotent.
setup:
	bash scripts/setup.sh

build:
	$(GO) build -o bin/embfit ./cmd/embfit

# All tests, race detector on. Runs setup first (a no-op once done).
test: setup
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 40m ./...
	FUZZTIME=3s GO=$(GO) bash scripts/fuzz.sh

# Every reader's fuzz target (JSONL, .npy, labels, loss specs,
# tokenizer.json, ONNX models, run config), FUZZTIME each (default 2m).
FUZZTIME ?= 2m
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# The default job: fine-tune an MLP head (residual, identity at start) on the GloVe encoder
# (models/glove-100d) with InfoNCE plus 3 hard negatives per pair mined by
# the frozen encoder, on the WordNet reverse-dictionary pairs (train split,
# dev split for early stopping), then print before/after metrics on the
# test split. Writes runs/wordnet-<time>/ (config, checkpoints,
# metrics.jsonl, head.onnx, merged.onnx, tokenizer.json).
DEFAULT_RUN ?= runs/wordnet-$(shell date +%Y%m%d-%H%M%S)
default: setup build
	bin/embfit train --model models/glove-100d \
		--train data/wordnet/pairs.train.jsonl --dev data/wordnet/pairs.dev.jsonl \
		--test data/wordnet/pairs.test.jsonl \
		--head mlp --loss infonce --mine-negatives 3 --epochs 5 --seed 1 \
		--out $(DEFAULT_RUN)

clean:
	rm -rf bin
