#!/bin/sh
# Regenerates the README's table of training results from fresh runs: each
# row is one `embfit train` on the WordNet splits (5 epochs, seed 1; the
# pair rows mine 3 hard negatives per pair with the frozen encoder), and its
# numbers are read back from RUN/test_metrics.json.
#
#   scripts/readme_train_table.sh [WORKDIR]   (default /tmp/embfit-readme-train)
#
# Needs `make setup`. Prints the Markdown table on stdout; the runs stay in
# WORKDIR. The runs share an embedding cache of their own in WORKDIR/cache
# (never the user's: a shared cache filled by another build of embfit would
# serve its vectors). About 1–2 minutes per row on 2 cores.
set -eu
cd "$(dirname "$0")/.."
W=${1:-/tmp/embfit-readme-train}
PY=${PYTHON:-python3}
mkdir -p "$W"
make build >/dev/null
D=data/wordnet
pairs="--train $D/pairs.train.jsonl --dev $D/pairs.dev.jsonl --test $D/pairs.test.jsonl --mine-negatives 3"
glosses="--train $D/glosses.train.jsonl --dev $D/glosses.dev.jsonl --test $D/glosses.test.jsonl"
row() { # NAME LABEL ARGS...
	name=$1 label=$2
	shift 2
	if [ ! -f "$W/$name/test_metrics.json" ]; then
		rm -rf "$W/$name"
		# shellcheck disable=SC2086
		bin/embfit train --model models/glove-100d "$@" --epochs 5 --seed 1 --cache-dir "$W/cache" --out "$W/$name" >"$W/$name.log" 2>&1
	fi
	"$PY" - "$W/$name/test_metrics.json" "$label" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
b, a = m["before"], m["after"]
r1 = lambda x: next(r["recall"] for r in x["recall"] if r["k"] == 1)
print(f"| {sys.argv[2]} | {b['map_at_r']:.4f} → {a['map_at_r']:.4f} | {r1(b):.4f} → {r1(a):.4f} |")
PYEOF
}
echo "| training | MAP@R before → after | recall@1 before → after |"
echo "| --- | --- | --- |"
# shellcheck disable=SC2086
row default '`make default`: infonce, mlp head (hidden 400, the default 4×)' $pairs --head mlp --loss infonce
# shellcheck disable=SC2086
row mlp1x 'infonce, mlp head, `--hidden 100`' $pairs --head mlp --hidden 100 --loss infonce
# shellcheck disable=SC2086
row linear 'infonce, linear head' $pairs --head linear --loss infonce
# shellcheck disable=SC2086
row triplet '`triplet:mining=semihard`, linear, lr 5e-3' $pairs --head linear --loss triplet:mining=semihard --lr 5e-3
# shellcheck disable=SC2086
row circle '`circle`, linear, lr 5e-3' $pairs --head linear --loss circle --lr 5e-3
# shellcheck disable=SC2086
row center '`center` on labelled glosses (45 lexnames, 16 classes × 16 per batch), linear, lr 5e-3' $glosses --head linear --loss center --batch-size 256 --per-class 16 --lr 5e-3
