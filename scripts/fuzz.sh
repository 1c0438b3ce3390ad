#!/usr/bin/env bash
# Runs every reader's fuzz target for FUZZTIME each (default 3s), one
# target at a time (go test -fuzz takes one target of one package).
# make test runs it briefly; make fuzz longer (FUZZTIME=2m by default).
# New failing inputs are written by go test under the package's
# testdata/fuzz/<Target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-3s}"
GO="${GO:-go}"
targets=(
	"./pipeline/dataio FuzzJSONL"          # JSONL records
	"./pipeline/dataio FuzzReadNPY"        # .npy headers
	"./pipeline/dataio FuzzReadLabels"     # labels files
	"./losses FuzzParse"                   # loss specs
	"./losses FuzzParseWeighted"           # weighted loss specs
	"./onnx/tokenizer FuzzParse"           # tokenizer.json
	"./onnx/tokenizer FuzzEncode"          # tokenizer.json + text
	"./onnx/graph FuzzModelLoad"           # ONNX model loading
	"./pipeline/job FuzzLoadJob"           # run config.json
)
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "fuzz $pkg $name for $FUZZTIME"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" ${FUZZFLAGS:-} "$pkg"
done
