#!/usr/bin/env bash
# Regenerates onnx/tokenizer/testdata/ref/*.json from the files
# scripts/setup-tokenizers.sh fetched: the reference ids of Hugging Face's
# JavaScript tokenizers and of spm_encode for the sentences in
# sentences.mjs, and digests of the reference ids of all WordNet glosses.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=.cache/tokenizers
D=$(go mod download -json github.com/daulet/tokenizers@v1.24.0 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/test/data
G=data/wordnet/glosses.jsonl
R=onnx/tokenizer/testdata/ref
node scripts/tokref/gen.mjs "$PWD/$T/hf-js/dist/tokenizers.mjs" "$G" "$R/hf-reference.json" \
  llama3="$D/Meta-Llama-3-8B-Instruct.json" cohere="$D/cohere-tokenizer.json" \
  labse="$D/sentence-transformers-labse.json" bert-base-uncased="$D/bert-base-uncased.json" \
  all-minilm-l6-v2="$D/all-minilm-l6-v2.json" qwen3="$T/qwen3/tokenizer.json" \
  wordnet-unigram="$T/wordnet-unigram/tokenizer.json"
node scripts/tokref/digest.mjs "$PWD/$T/hf-js/dist/tokenizers.mjs" "$G" "$R/gloss-digests.json" \
  llama3="$D/Meta-Llama-3-8B-Instruct.json" cohere="$D/cohere-tokenizer.json" \
  bert-base-uncased="$D/bert-base-uncased.json" all-minilm-l6-v2="$D/all-minilm-l6-v2.json" \
  qwen3="$T/qwen3/tokenizer.json" wordnet-unigram="$T/wordnet-unigram/tokenizer.json"
node scripts/tokref/spm.mjs "$T/wordnet-unigram/spm.model" "$G" "$R/spm-wordnet-unigram.json"
