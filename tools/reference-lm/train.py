#!/usr/bin/env python3
"""Train allot's reference LM: a small character-level transformer that does arithmetic.

Offline tooling, run by a developer; nothing at run time or test time needs Python.
The task has checkable answers and graded difficulty (operand digits, + vs *), which is
what allot needs locally: a real LM whose single-sample success rate varies by input.

Usage (Debian's torch; see README "Reference LM"):
  OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tools/reference-lm/train.py \
      --name strong --d-model 128 --layers 2 --heads 4 --steps 5000 --seed 1 --out models

Writes <out>/<name>.onnx, <out>/<name>.manifest.json (recipe, vocabulary, sha256) and
<out>/<name>.parity.json (inputs and PyTorch outputs, checked by the TypeScript tests
against onnxruntime so the exported graph is known to match the trained model).
"""
import argparse, hashlib, json, math, os, random, time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Token 0 is "\n": it ends every answer, so an OpenAI-style `stop` is not even needed.
VOCAB = ["\n", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "*", "="]
STOI = {c: i for i, c in enumerate(VOCAB)}
MAX_DIGITS = 5
OPS = "+*"


def encode(s):
    return [STOI[c] for c in s]


def sample_problem(rng):
    """Uniform over difficulty cells (op, digits of a, digits of b), then uniform operands."""
    op = rng.choice(OPS)
    da, db = rng.randint(1, MAX_DIGITS), rng.randint(1, MAX_DIGITS)
    a = rng.randint(10 ** (da - 1) if da > 1 else 0, 10 ** da - 1)
    b = rng.randint(10 ** (db - 1) if db > 1 else 0, 10 ** db - 1)
    ans = a + b if op == "+" else a * b
    return f"{a}{op}{b}=", f"{ans}\n"


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, pk, pv, mask_add):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q = q.view(B, T, self.h, self.dh).transpose(1, 2)
        k = torch.cat([pk, k.view(B, T, self.h, self.dh).transpose(1, 2)], dim=2)
        v = torch.cat([pv, v.view(B, T, self.h, self.dh).transpose(1, 2)], dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.dh)) + mask_add
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(y)
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return x, k, v


class CharLM(nn.Module):
    def __init__(self, vocab, ctx, d, layers, heads):
        super().__init__()
        self.ctx, self.d, self.layers, self.heads = ctx, d, layers, heads
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, ids, past_k, past_v):
        """ids [B,T]; past_k/past_v [L,B,H,P,dh]. Returns logits [B,T,V], the last layer's
        hidden state (after the final LayerNorm, as HF/vLLM report it) [B,T,d], and the
        present caches [L,B,H,P+T,dh]."""
        T = ids.shape[1]
        P = past_k.shape[3]
        qpos = torch.arange(T, dtype=torch.long) + P
        kpos = torch.arange(T, dtype=torch.long) + P
        kpos = torch.cat([torch.arange(P, dtype=torch.long), kpos])
        mask_add = (kpos[None, :] > qpos[:, None]).float() * -1e9
        x = self.tok(ids) + self.pos(qpos)[None]
        ks, vs = [], []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, past_k[i], past_v[i], mask_add)
            ks.append(k)
            vs.append(v)
        h = self.ln_f(x)
        return self.head(h), h, torch.stack(ks), torch.stack(vs)

    def empty_cache(self, B):
        return torch.zeros(self.layers, B, self.heads, 0, self.d // self.heads)


def make_batch(rng, n, ctx):
    ids = torch.zeros(n, ctx, dtype=torch.long)
    tgt = torch.full((n, ctx), -100, dtype=torch.long)  # loss only on the answer
    for r in range(n):
        p, a = sample_problem(rng)
        s = encode(p + a)
        ids[r, : len(s)] = torch.tensor(s)
        for j in range(len(p) - 1, len(s) - 1):
            tgt[r, j] = s[j + 1]
    return ids, tgt


@torch.no_grad()
def sample_success(model, rng, cells, n, temperature, gen):
    out = {}
    for op, da, db in cells:
        ok = 0
        for _ in range(n):
            a = rng.randint(10 ** (da - 1) if da > 1 else 0, 10 ** da - 1)
            b = rng.randint(10 ** (db - 1) if db > 1 else 0, 10 ** db - 1)
            ans = a + b if op == "+" else a * b
            ids = torch.tensor([encode(f"{a}{op}{b}=")])
            pk = pv = model.empty_cache(1)
            text = ""
            while ids.shape[1] + pk.shape[3] <= model.ctx and len(text) < 12:
                logits, _, pk, pv = model(ids, pk, pv)
                probs = F.softmax(logits[0, -1] / temperature, dim=-1)
                t = int(torch.multinomial(probs, 1, generator=gen))
                if t == 0:
                    break
                text += VOCAB[t]
                ids = torch.tensor([[t]])
            ok += text == str(ans)
        out[f"{da}{op}{db}"] = ok / n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="models")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = CharLM(len(VOCAB), args.ctx, args.d_model, args.layers, args.heads)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.name}: {n_params} parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 200) * 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    t0 = time.time()
    for step in range(args.steps):
        ids, tgt = make_batch(rng, args.batch, args.ctx)
        logits, _, _, _ = model(ids, model.empty_cache(args.batch), model.empty_cache(args.batch))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    train_seconds = time.time() - t0
    model.eval()

    gen = torch.Generator().manual_seed(args.seed)
    quick = sample_success(model, random.Random(123), [("+", d, d) for d in range(1, 6)] +
                           [("*", d, d) for d in range(1, 4)], 50, 0.8, gen)
    print("quick success @T=0.8 (50 samples/cell):", quick, flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{args.name}.onnx")
    L, H, dh = args.layers, args.heads, args.d_model // args.heads
    ex_ids = torch.tensor([encode("12+34=")] * 2)
    torch.onnx.export(
        model, (ex_ids, torch.zeros(L, 2, H, 3, dh), torch.zeros(L, 2, H, 3, dh)), onnx_path,
        input_names=["input_ids", "past_keys", "past_values"],
        output_names=["logits", "hidden", "present_keys", "present_values"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                      "past_keys": {1: "batch", 3: "past"}, "past_values": {1: "batch", 3: "past"},
                      "logits": {0: "batch", 1: "seq"}, "hidden": {0: "batch", 1: "seq"},
                      "present_keys": {1: "batch", 3: "total"},
                      "present_values": {1: "batch", 3: "total"}},
        opset_version=14)

    # Parity fixtures: a prefill from an empty cache and one decode step on top of it.
    with torch.no_grad():
        pre = torch.tensor([encode("123*45="), encode("9+99999=")[:7]])
        lg, hd, pk, pv = model(pre, model.empty_cache(2), model.empty_cache(2))
        step_ids = torch.tensor([[STOI["5"]], [STOI["1"]]])
        lg2, hd2, _, _ = model(step_ids, pk, pv)
    parity = {
        "prefill_ids": pre.tolist(), "prefill_logits": lg.flatten().tolist(),
        "prefill_hidden": hd.flatten().tolist(), "step_ids": step_ids.tolist(),
        "step_logits": lg2.flatten().tolist(), "step_hidden": hd2.flatten().tolist(),
    }
    with open(os.path.join(args.out, f"{args.name}.parity.json"), "w") as f:
        json.dump(parity, f)

    sha = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    manifest = {
        "name": args.name, "file": f"{args.name}.onnx", "sha256": sha,
        "task": "arithmetic: '<a><op><b>=' -> '<result>\\n', op in + *, operands of 1-5 digits",
        "vocab": VOCAB, "eos_token": 0, "context_length": args.ctx,
        "hidden_size": args.d_model, "layers": L, "heads": H, "head_dim": dh,
        "parameters": n_params,
        "onnx": {"inputs": ["input_ids [B,T] int64", "past_keys [L,B,H,P,dh]", "past_values [L,B,H,P,dh]"],
                 "outputs": ["logits [B,T,V]", "hidden [B,T,d] (last layer, after final LayerNorm)",
                             "present_keys [L,B,H,P+T,dh]", "present_values [L,B,H,P+T,dh]"],
                 "opset": 14},
        "recipe": {"steps": args.steps, "batch": args.batch, "optimizer": "AdamW(wd=0.01)",
                   "lr": args.lr, "schedule": "200-step warmup, cosine", "seed": args.seed,
                   "loss": "cross-entropy on answer tokens only",
                   "data": "uniform over (op, digits a, digits b) cells, then uniform operands",
                   "torch": torch.__version__, "train_seconds": round(train_seconds)},
    }
    with open(os.path.join(args.out, f"{args.name}.manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) sha256 {sha}", flush=True)


if __name__ == "__main__":
    main()
