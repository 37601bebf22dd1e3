#!/usr/bin/env python3
"""Measure the thinking reference LM's single-sample accuracy by thinking budget and by
difficulty cell, with budget forcing done exactly as the server does it (see
train_thinking.generate): draw up to N thinking tokens after <think>; if </think> was not
emitted by then, append it; then draw the answer up to the end-of-sequence newline.

The measured model is the PyTorch checkpoint written by `train_thinking.py --checkpoint`;
the script first checks it reproduces models/<name>.parity.json (the fixtures the
TypeScript tests check onnxruntime against), so the numbers are the shipped ONNX model's.

Usage:
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/reference-lm/measure_thinking.py \
      --checkpoint /tmp/thinking.pt

writes reports/thinking/accuracy.json and reports/thinking/README.md.
"""
import argparse, json, math, os, random, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_thinking import (CharLM, MAX_DIGITS, MAX_OPERANDS, MIN_OPERANDS, VOCAB,  # noqa: E402
                            cell_problem, generate, render)

BUDGETS = [0, 2, 4, 8, 16, 32, 64, None]  # None: unlimited
NOTES = "<!-- notes -->"  # README.md from this line on is hand-written and kept on a rerun


def check_parity(model, path):
    p = json.load(open(path))
    with torch.no_grad():
        pre = torch.tensor(p["prefill_ids"])
        lg, hd, pk, pv = model(pre, model.empty_cache(len(pre)), model.empty_cache(len(pre)))
        lg2, hd2, _, _ = model(torch.tensor(p["step_ids"]), pk, pv)
    for got, want in [(lg, "prefill_logits"), (hd, "prefill_hidden"), (lg2, "step_logits"), (hd2, "step_hidden")]:
        w = torch.tensor(p[want])
        assert torch.allclose(got.flatten(), w, rtol=1e-5, atol=1e-5), f"checkpoint differs from {path} ({want})"


def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def markdown(result, command):
    """reports/thinking/README.md: the tables of accuracy.json and the command behind them."""
    budgets = result["budgets"]
    out = ["# The thinking reference LM: accuracy by thinking budget", "",
           f"Model `{result['model']}` (sha256 `{result['sha256'][:12]}…`). Single-sample accuracy "
           f"(exact answer) on {result['samples_per_cell']} random problems per cell, one sample each, "
           "top_p 1. A cell `<n>x<d>` is n operands of exactly d digits. Budget N: at most N "
           "thinking tokens (after `<think>`); if the model has not closed its thinking by then, "
           "`</think>` is appended and it answers. `need` is the length of the full scratchpad "
           "(tokens, mean over the cell's problems); `used` the mean thinking tokens the model "
           "spends unconstrained.", "",
           "Produced by:", "", "```sh", command, "```", ""]
    for temp, table in result["by_temperature"].items():
        out += [f"## Temperature {temp}", "",
                "| cell | need | used | " + " | ".join(f"N={b}" for b in budgets) + " |",
                "|---|---|---|" + "---|" * len(budgets)]
        for cell, row in table.items():
            out.append(f"| {cell} | {row['needed_thinking_tokens']:.1f} | {row['think@inf']:.1f} | "
                       + " | ".join(f"{100 * row[f'acc@{b}']:.0f}%" for b in budgets) + " |")
        mean = {b: sum(r[f"acc@{b}"] for r in table.values()) / len(table) for b in budgets}
        out += ["| **mean** | | | " + " | ".join(f"**{100 * mean[b]:.0f}%**" for b in budgets) + " |", ""]
    bok = result["best_of_k"]
    keys = [k for k in next(iter(bok["cells"].values()))]
    out += [f"## Best-of-k at temperature {bok['temperature']}", "",
            f"pass@k (any of k samples right; unbiased estimate from {bok['k']} samples on each of "
            f"{bok['problems_per_cell']} problems per cell), by budget.", "",
            "| cell | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for cell, row in bok["cells"].items():
        out.append(f"| {cell} | " + " | ".join(f"{100 * row[k]:.0f}%" for k in keys) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="thinking")
    ap.add_argument("--models", default="models")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--samples", type=int, default=400, help="problems per cell (one sample each)")
    ap.add_argument("--temperatures", default="0.8,1.0,0")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--bok-problems", type=int, default=100, help="problems per cell for best-of-k")
    ap.add_argument("--bok-k", type=int, default=8)
    ap.add_argument("--out", default="reports/thinking/accuracy.json")
    ap.add_argument("--markdown", default="reports/thinking/README.md")
    args = ap.parse_args()
    command = "OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/reference-lm/measure_thinking.py " + " ".join(sys.argv[1:])

    torch.set_num_threads(1)
    man = json.load(open(os.path.join(args.models, f"{args.name}.manifest.json")))
    assert man["vocab"] == VOCAB
    model = CharLM(len(VOCAB), man["context_length"], man["hidden_size"], man["layers"], man["heads"])
    model.load_state_dict(torch.load(args.checkpoint))
    model.eval()
    check_parity(model, os.path.join(args.models, f"{args.name}.parity.json"))

    cells = [(n, d) for n in range(MIN_OPERANDS, MAX_OPERANDS + 1) for d in range(1, MAX_DIGITS + 1)]
    t0 = time.time()
    result = {"model": args.name, "sha256": man["sha256"], "samples_per_cell": args.samples,
              "seed": args.seed, "top_p": 1.0,
              "budgets": ["inf" if b is None else b for b in BUDGETS],
              "cells": [f"{n}x{d}" for n, d in cells],
              "procedure": man["thinking"]["budget_forcing"], "by_temperature": {}}
    for temp in [float(t) for t in args.temperatures.split(",")]:
        table = {}
        for ci, (n, d) in enumerate(cells):
            rng = random.Random(args.seed * 1000 + ci)
            probs = [cell_problem(rng, n, d) for _ in range(args.samples)]
            prompts = [render(x)[0] for x in probs]
            answers = [render(x)[2] for x in probs]
            scratch = [render(x)[1] for x in probs]
            row = {"needed_thinking_tokens": sum(len(s) for s in scratch) / len(scratch)}
            for b in BUDGETS:
                gen = torch.Generator().manual_seed(args.seed + ci * 101 + (b or 999))
                res = generate(model, prompts, b, temp, gen)
                key = "inf" if b is None else str(b)
                row[f"acc@{key}"] = sum(a == want for (a, *_), want in zip(res, answers)) / len(res)
                row[f"think@{key}"] = sum(r[1] for r in res) / len(res)
                row[f"forced@{key}"] = sum(r[2] for r in res) / len(res)
                row[f"tokens@{key}"] = sum(r[3] for r in res) / len(res)
            table[f"{n}x{d}"] = row
            print(f"T={temp} {n}x{d} " + " ".join(f"{k}={row[f'acc@{k}']:.2f}" for k in result["budgets"])
                  + f" think={row['think@inf']:.1f} ({time.time() - t0:.0f}s)", flush=True)
        result["by_temperature"][str(temp)] = table

    # Best-of-k at T=0.8: k samples per problem, pass@k by the unbiased estimator.
    bok = {}
    gen = torch.Generator().manual_seed(args.seed + 7)
    for ci, (n, d) in enumerate(cells):
        if d == 1:
            continue
        rng = random.Random(args.seed * 2000 + ci)
        probs = [cell_problem(rng, n, d) for _ in range(args.bok_problems)]
        prompts = [render(x)[0] for x in probs for _ in range(args.bok_k)]
        answers = [render(x)[2] for x in probs]
        row = {}
        for b in (0, 4, 8, None):
            res = generate(model, prompts, b, 0.8, gen)
            correct = [sum(res[i * args.bok_k + j][0] == answers[i] for j in range(args.bok_k)) for i in range(len(probs))]
            key = "inf" if b is None else str(b)
            for k in (1, 2, 4, args.bok_k):
                row[f"pass{k}@{key}"] = sum(pass_at_k(args.bok_k, c, k) for c in correct) / len(correct)
        bok[f"{n}x{d}"] = row
    result["best_of_k"] = {"temperature": 0.8, "problems_per_cell": args.bok_problems, "k": args.bok_k,
                           "estimator": "unbiased pass@k from k samples per problem", "cells": bok}
    result["seconds"] = round(time.time() - t0)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    notes = ""
    if os.path.exists(args.markdown):  # keep the hand-written notes below the tables
        old = open(args.markdown).read()
        if NOTES in old:
            notes = old[old.index(NOTES):]
    with open(args.markdown, "w") as f:
        f.write(markdown(result, command) + ("\n" + notes if notes else ""))
    print(f"wrote {args.out} and {args.markdown} in {result['seconds']}s", flush=True)


if __name__ == "__main__":
    main()
