#!/bin/sh
# Times embfit's training loop against the PyTorch reference on exactly the
# default job (`make default`), for the default MLP head and for an MLP with
# 4× the hidden width, both tools in the same run, one after the other.
#
#   scripts/bench/train_vs_torch.sh [WORKDIR]   (default /tmp/embfit-train-bench)
#
# Needs `make setup` and Debian's python3-torch (a dev-only tool; never a
# dependency of embfit). The first call runs the default job once with
# `embfit train --dump-job DIR` to write the job (embeddings, mined negatives, batches,
# dev set) to WORKDIR/base; later calls reuse it. Each size then runs
# scripts/bench/trainloop (embfit: Trainer.Run on the dumped job, which also
# re-writes the job with that hidden width) and scripts/bench/torch_train.py
# on the same job. embfit runs with GOMAXPROCS = nproc; PyTorch with
# TORCH_THREADS threads (default 1: on a machine shared with other jobs,
# PyTorch's OpenMP threads spin and wait for each other — 2 threads took
# 1.2 s per step against 0.07 s with 1 while this was written — so set
# TORCH_THREADS=2 only on an idle machine). Both report wall and CPU
# seconds of the training loop (dev evaluations included).
# Prints one JSON line per tool and size, then a summary table.
set -eu
cd "$(dirname "$0")/../.."
W=${1:-/tmp/embfit-train-bench}
PY=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-1}
mkdir -p "$W"
if [ ! -f "$W/base/job.json" ]; then
	make build >/dev/null
	rm -rf "$W/base-run"
	bin/embfit train --dump-job "$W/base" --model models/glove-100d \
		--train data/wordnet/pairs.train.jsonl --dev data/wordnet/pairs.dev.jsonl \
		--test data/wordnet/pairs.test.jsonl \
		--head mlp --loss infonce --mine-negatives 3 --epochs 5 --seed 1 \
		--out "$W/base-run" >"$W/base-run.log" 2>&1
fi
go build -o "$W/trainloop" ./scripts/bench/trainloop
: >"$W/results.jsonl"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for h in 100 400; do
		e=$("$W/trainloop" -dump "$W/base" -hidden "$h" -out "$W/h$h")
		echo "{\"tool\":\"embfit\",\"hidden\":$h,\"round\":$r,\"result\":$e}" | tee -a "$W/results.jsonl"
		t=$("$PY" scripts/bench/torch_train.py "$W/h$h" --threads "${TORCH_THREADS:-1}")
		echo "{\"tool\":\"pytorch\",\"hidden\":$h,\"round\":$r,\"result\":$t}" | tee -a "$W/results.jsonl"
	done
	r=$((r + 1))
done
"$PY" - "$W/results.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| head | embfit s (CPU s) | PyTorch s (CPU s) | speed-up (wall) | speed-up (CPU) | embfit first loss | PyTorch first loss | embfit best dev MAP@R | PyTorch best dev MAP@R |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for h in (100, 400):
    e = [r["result"] for r in rows if r["tool"] == "embfit" and r["hidden"] == h]
    t = [r["result"] for r in rows if r["tool"] == "pytorch" and r["hidden"] == h]
    if not e or not t:
        continue
    es, ts = min(x["seconds"] for x in e), min(x["seconds"] for x in t)
    ec, tc = min(x.get("cpu_seconds", 0) for x in e), min(x.get("cpu_seconds", 0) for x in t)
    print(f"| MLP hidden {h} | {es:.1f} ({ec:.1f}) | {ts:.1f} ({tc:.1f}) | {ts/es:.2f}× | {tc/max(ec, 1e-9):.2f}× | {e[0]['first_batch_loss']:.4f} | {t[0]['first_batch_loss']:.4f} "
          f"| {max(e[0]['dev_map_at_r']):.4f} | {t[0]['best_dev_map_at_r']:.4f} |")
PYEOF
