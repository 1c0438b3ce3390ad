#!/usr/bin/env python3
"""PyTorch reference of an embfit training job (a developer benchmark).

Reads a job written by embfit (embfit train --dump-job DIR ...):
DIR/emb.npy (the frozen encoder's embeddings), DIR/param_K.npy (the head's
initial parameters) and DIR/job.json (settings, every epoch's batches, the
dev set), and runs the same training in PyTorch eager mode: the same head
(linear, or Linear-GELU-Linear with a residual), pair-form InfoNCE
(sentence-transformers' MultipleNegativesRankingLoss with scale 1/tau and
the mined negatives as extra candidates), torch.optim.AdamW, linear warm-up
then cosine decay, global gradient-norm clipping, and a dev evaluation
(MAP@R as embfit defines it, exact under ties) before training and after
every epoch. It prints one JSON object: the first batch's loss, the dev
MAP@R per epoch and the time of the training loop including the dev
evaluations, which is what embfit reports as "trained ... in X s".

Dev-only: PyTorch (Debian python3-torch) is never a dependency of embfit.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch


def parse_loss(spec):
    name, _, rest = spec.partition(":")
    if name != "infonce":
        sys.exit(f"torch_train.py: only the infonce loss is implemented, not {spec!r}")
    tau, symmetric = 0.07, False
    for kv in filter(None, rest.split(",")):
        k, _, v = kv.partition("=")
        if k == "temperature":
            tau = float(v)
        elif k == "symmetric":
            symmetric = v == "true"
        else:
            sys.exit(f"torch_train.py: infonce option {k!r} not implemented")
    return tau, symmetric


def normalize(x):
    """Unit rows; a zero row stays zero with a zero gradient (as embfit)."""
    n = x.norm(dim=1, keepdim=True)
    pos = n > 0
    return torch.where(pos, x / torch.where(pos, n, torch.ones_like(n)), torch.zeros_like(x))


class Head(torch.nn.Module):
    def __init__(self, hs, params):
        super().__init__()
        self.kind, self.norm = hs["kind"], hs["normalize"]
        self.residual = self.kind == "mlp" and hs["out"] == hs["in"]
        ps = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
        self.w1, self.b1 = ps[0], ps[1]
        if self.kind == "mlp":
            self.w2, self.b2 = ps[2], ps[3]

    def forward(self, x):
        if self.kind == "linear":
            y = torch.addmm(self.b1, x, self.w1.t())
        else:
            a = torch.nn.functional.gelu(torch.addmm(self.b1, x, self.w1.t()))  # exact (erf) GELU
            y = torch.addmm(self.b2, a, self.w2.t())
            if self.residual:
                y = y + x
        return normalize(y) if self.norm else y


def infonce_pairs(out, q, tau, symmetric):
    u = normalize(out)
    logits = u[:q] @ u[q:].t() / tau
    target = torch.arange(q)
    loss = torch.nn.functional.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + torch.nn.functional.cross_entropy(logits[:, :q].t(), target))
    return loss


def lr_at(t, o, total):
    warm = math.ceil(max(o["warmup_ratio"], 0) * total)
    if t < warm:
        return o["lr"] * (t + 1) / warm
    p = min((t - warm) / max(total - warm, 1), 1)
    if o["schedule"] == "cosine":
        return o["lr"] * 0.5 * (1 + math.cos(math.pi * p))
    if o["schedule"] == "linear":
        return o["lr"] * (1 - p)
    return o["lr"]


def unit_rows64(x):
    x = x.double()
    n = x.norm(dim=1, keepdim=True)
    return torch.where(n > 0, x / torch.where(n > 0, n, torch.ones_like(n)), torch.zeros_like(x)).float()


@torch.no_grad()
def map_at_r(head, emb, dev, block=1024):
    """MAP@R of the dev pairs: a query never ranks its own text, exact ties
    rank the lower corpus index first, queries without a positive are
    skipped (embfit's definition)."""
    qx, cx = emb[dev["q"]], emb[dev["c"]]
    if head is not None:
        qx, cx = head(qx), head(cx)
    uq, uc = unit_rows64(qx), unit_rows64(cx)
    nq, nc = uq.shape[0], uc.shape[0]
    pq, pc = dev["pair_q"], dev["pair_c"]  # (query, positive) pairs, by query
    rank = np.empty(len(pq), dtype=np.int64)
    for q0 in range(0, nq, block):
        q1 = min(q0 + block, nq)
        s = (uq[q0:q1] @ uc.t()).numpy()
        selfs = dev["self"][q0:q1].numpy()
        has = selfs >= 0
        s[np.arange(q1 - q0)[has], selfs[has]] = -np.inf
        lo, hi = np.searchsorted(pq, [q0, q1])
        for p0 in range(lo, hi, 256):
            p1 = min(p0 + 256, hi)
            rows = s[pq[p0:p1] - q0]
            c = pc[p0:p1]
            sp = rows[np.arange(p1 - p0), c][:, None]
            # 1 + (strictly better) + (tied with a lower index)
            rank[p0:p1] = 1 + np.count_nonzero(rows > sp, axis=1)
            eq = np.count_nonzero(rows == sp, axis=1)
            for k in np.nonzero(eq > 1)[0]:  # exact ties: the lower index first
                rank[p0 + k] += np.count_nonzero(rows[k, :c[k]] == sp[k])
    # AP@R per query: positives in rank order, hits/rank for ranks ≤ R.
    q, rk = pq, rank
    order = np.lexsort((rk, q))
    q, rk = q[order], rk[order]
    first = np.searchsorted(q, q, side="left")
    hits = np.arange(len(q)) - first + 1
    r = dev["r"][q]
    contrib = np.where(rk <= r, hits / rk, 0.0) / r
    ap = np.zeros(nq)
    np.add.at(ap, q, contrib)
    valid = dev["r"] > 0
    return float(ap[valid].sum() / max(valid.sum(), 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump", help="directory written by embfit train --dump-job")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--save", help="write the trained head's parameters (best dev epoch) to this .npz")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    job = json.load(open(os.path.join(args.dump, "job.json")))
    s = job["settings"]
    hs, o = s["head"], s["optimizer"]
    if o["name"] != "adamw":
        sys.exit("torch_train.py: only adamw is implemented")
    if len(job["losses"]) != 1:
        sys.exit("torch_train.py: one loss only")
    tau, symmetric = parse_loss(job["losses"][0])
    emb = torch.from_numpy(np.load(os.path.join(args.dump, "emb.npy")))
    params = [np.load(os.path.join(args.dump, p)) for p in job["params"]]
    for k in (1, 3):  # biases are 1×n in embfit
        if k < len(params):
            params[k] = params[k].reshape(-1)
    head = Head(hs, params)
    dev = None
    if job.get("dev"):
        d = job["dev"]
        pos = [sorted(set(p) - {sf}) for p, sf in zip(d["positives"], d["self"])]
        dev = {"q": torch.tensor(d["queries"]), "c": torch.tensor(d["corpus"]), "self": torch.tensor(d["self"]),
               "pair_q": np.array([i for i, p in enumerate(pos) for _ in p], dtype=np.int64),
               "pair_c": np.array([j for p in pos for j in p], dtype=np.int64),
               "r": np.array([len(p) for p in pos])}
    epochs = [[(torch.tensor(a), torch.tensor(p), torch.tensor(n, dtype=torch.long)) for a, p, n in ep] for ep in job["epochs"]]
    total = job["total_steps"]
    wd = o["weight_decay"] if o["weight_decay"] > 0 else 0.0
    opt = torch.optim.AdamW(head.parameters(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=wd)
    clip = o["clip_norm"]

    res = {"threads": args.threads, "torch": torch.__version__, "steps": total, "dev_map_at_r": []}
    t0, c0 = time.perf_counter(), time.process_time()
    best, best_state = -1.0, None
    if dev is not None:
        best = map_at_r(None, emb, dev)
        res["dev_map_at_r"].append(best)
    step = 0
    for ep in epochs:
        loss_sum = 0.0
        for a, p, n in ep:
            x = emb[torch.cat((a, p, n))]
            for g in opt.param_groups:
                g["lr"] = lr_at(step, o, total)
            loss = infonce_pairs(head(x), len(a), tau, symmetric)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(head.parameters(), clip)
            opt.step()
            v = loss.item()
            if step == 0:
                res["first_batch_loss"] = v
            loss_sum += v
            step += 1
        if dev is not None:
            m = map_at_r(head, emb, dev)
            res["dev_map_at_r"].append(m)
            if m > best:
                best, best_state = m, [t.detach().clone() for t in head.parameters()]
    res["seconds"] = time.perf_counter() - t0
    res["cpu_seconds"] = time.process_time() - c0
    res["best_dev_map_at_r"] = best
    if args.save and best_state is not None:
        np.savez(args.save, *[t.numpy() for t in best_state])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
