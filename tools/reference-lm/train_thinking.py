#!/usr/bin/env python3
"""Train allot's *thinking* reference LM: a character-level transformer that writes a
scratchpad between <think> and </think> before its answer, so thinking tokens are a
compute axis (like OpenAI's reasoning_effort, vLLM's thinking-token budget, s1's budget
forcing).

Task: sums of 2 to 6 operands of 1 to 3 digits. The scratchpad rewrites the sum step by
step, adding the first two terms each time, as one writes it by hand, until two terms are
left; the answer adds those:

  prompt      17+305+9+48=
  completion  <think>322+9+48=331+48</think>379\n

so a 2-operand sum needs no thinking (<think></think>) and a 6-operand sum of 3-digit
numbers needs 4 lines (up to 59 tokens). <think> and </think> are single tokens. Every
step reads only the line before it (its first two terms, then a copy of the rest), so the
model never has to count its way to the k-th operand of the prompt: a first design that
wrote only the running sums ('<think>322;331</think>379') did, and a 3-layer model had not
learned it after 3,000 steps (a correct scratchpad's next sum right 9% of the time).

Budget forcing: the server stops the thinking after N tokens by appending </think>. To make
the answer after a cut scratchpad a graded guess, a share of training examples cut the
scratchpad at a random token (possibly mid-number, possibly at 0) and close it with
</think>, still targeting the true answer. The forced </think> itself carries no loss, so
the model never learns to stop thinking early on its own.

Same ONNX interface (opset 14), cache layout and parity fixture format as train.py (which
is unchanged); the model is train.py's with rotary positions instead of learned absolute
ones (see CharLM below).

Usage (Debian's torch; see README "Reference LM"):
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/reference-lm/train_thinking.py \
      --name thinking --d-model 128 --layers 3 --heads 4 --ctx 96 --steps 5000 --seed 1 --out models \
      --checkpoint /tmp/thinking.pt
"""
import argparse, hashlib, json, math, os, random, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

THINK, END_THINK = "<think>", "</think>"
# Token 0 is "\n": it ends every answer. The two markers are single tokens; every other
# token is one character. "<" is not a token, so a greedy longest-match tokenizer is
# unambiguous.
VOCAB = ["\n", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=", THINK, END_THINK]
STOI = {c: i for i, c in enumerate(VOCAB)}
THINK_ID, END_ID, EOS_ID = STOI[THINK], STOI[END_THINK], STOI["\n"]
MIN_OPERANDS, MAX_OPERANDS, MAX_DIGITS = 2, 6, 3


def encode(s):
    """Greedy longest match: the markers first, then single characters."""
    out, i = [], 0
    while i < len(s):
        for special in (END_THINK, THINK):
            if s.startswith(special, i):
                out.append(STOI[special])
                i += len(special)
                break
        else:
            out.append(STOI[s[i]])
            i += 1
    return out


def decode(ids):
    return "".join(VOCAB[i] for i in ids)


def operand(rng, digits):
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)


def cell_problem(rng, n, d):
    """A problem of one difficulty cell: n operands of exactly d digits."""
    return [operand(rng, d) for _ in range(n)]


def sample_operands(rng):
    """Training distribution: n uniform in 2..6, d uniform in 1..3; half the problems have
    every operand of exactly d digits (a cell), half draw each operand's digits in 1..d."""
    n = rng.randint(MIN_OPERANDS, MAX_OPERANDS)
    d = rng.randint(1, MAX_DIGITS)
    if rng.random() < 0.5:
        return cell_problem(rng, n, d)
    return [operand(rng, rng.randint(1, d)) for _ in range(n)]


def render(xs):
    """(prompt, scratchpad, answer): '17+305+9+48=', '322+9+48=331+48', '379'."""
    lines, cur = [], list(xs)
    while len(cur) > 2:
        cur = [cur[0] + cur[1]] + cur[2:]
        lines.append("+".join(map(str, cur)))
    return "+".join(map(str, xs)) + "=", "=".join(lines), str(sum(xs))


def max_thinking_tokens():
    return len(render([10 ** MAX_DIGITS - 1] * MAX_OPERANDS)[1])


def training_example(rng, p_full, p_none):
    """Token ids and per-position targets (-100 = no loss). With probability p_full the
    whole scratchpad, p_none none at all, else cut after a uniform 1..len-1 tokens."""
    prompt, scratch, answer = render(sample_operands(rng))
    p, s = encode(prompt), encode(scratch)
    u = rng.random()
    if u < p_full or len(s) == 0:
        cut, forced = len(s), False
    elif u < p_full + p_none or len(s) == 1:
        cut, forced = 0, True
    else:
        cut, forced = rng.randint(1, len(s) - 1), True
    ids = p + [THINK_ID] + s[:cut] + [END_ID] + encode(answer) + [EOS_ID]
    tgt = [-100] * len(ids)
    for j in range(len(p) - 1, len(ids) - 1):
        tgt[j] = ids[j + 1]
    if forced:  # the server appended </think>: the model is not taught to emit it here
        tgt[len(p) + cut] = -100
    return ids, tgt


def rope(x, cos, sin):
    """Rotary position embedding (GPT-NeoX layout): x [..., T, dh], cos/sin [T, dh/2]."""
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    """train.py's block with rotary positions on queries and keys (the cache holds rotated
    keys, as in Llama/Qwen)."""

    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, pk, pv, mask_add, cos, sin):
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q = rope(q.view(B, T, self.h, self.dh).transpose(1, 2), cos, sin)
        k = torch.cat([pk, rope(k.view(B, T, self.h, self.dh).transpose(1, 2), cos, sin)], dim=2)
        v = torch.cat([pv, v.view(B, T, self.h, self.dh).transpose(1, 2)], dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.dh)) + mask_add
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.proj(y)
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x))))
        return x, k, v


class CharLM(nn.Module):
    """train.py's CharLM (same inputs, outputs and cache layout) with rotary instead of
    learned absolute positions. The scratchpad's lines sit at any offset, and with
    absolute positions a step learned at one offset did not carry to another (the first
    line, read off the prompt, was right; adding two terms inside the scratchpad was not)."""

    def __init__(self, vocab, ctx, d, layers, heads, rope_base=10000.0):
        super().__init__()
        self.ctx, self.d, self.layers, self.heads = ctx, d, layers, heads
        self.tok = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
        dh = d // heads
        self.register_buffer("inv_freq", 1.0 / rope_base ** (torch.arange(0, dh, 2).float() / dh), persistent=False)

    def forward(self, ids, past_k, past_v):
        """ids [B,T]; past_k/past_v [L,B,H,P,dh]. Returns logits [B,T,V], the last layer's
        hidden state (after the final LayerNorm) [B,T,d], and the present caches
        [L,B,H,P+T,dh]."""
        T = ids.shape[1]
        P = past_k.shape[3]
        qpos = torch.arange(T, dtype=torch.long) + P
        kpos = torch.cat([torch.arange(P, dtype=torch.long), qpos])
        mask_add = (kpos[None, :] > qpos[:, None]).float() * -1e9
        ang = qpos.float()[:, None] * self.inv_freq[None, :]
        cos, sin = torch.cos(ang), torch.sin(ang)
        x = self.tok(ids)
        ks, vs = [], []
        for i, blk in enumerate(self.blocks):
            x, k, v = blk(x, past_k[i], past_v[i], mask_add, cos, sin)
            ks.append(k)
            vs.append(v)
        h = self.ln_f(x)
        return self.head(h), h, torch.stack(ks), torch.stack(vs)

    def empty_cache(self, B):
        return torch.zeros(self.layers, B, self.heads, 0, self.d // self.heads)


def batches(rng, n, ctx, p_full, p_none, group=8):
    """Batches of n examples. `group` batches' worth are drawn at a time and split by
    length (then shuffled), so a batch pads to about its own length: the same examples,
    less padding."""
    while True:
        rows = sorted((training_example(rng, p_full, p_none) for _ in range(n * group)), key=lambda r: len(r[0]))
        chunks = [rows[k * n:(k + 1) * n] for k in range(group)]
        rng.shuffle(chunks)
        for c in chunks:
            yield make_batch(c, ctx)


def make_batch(rows, ctx):
    T = max(len(r[0]) for r in rows)
    assert T <= ctx, T
    n = len(rows)
    ids = torch.zeros(n, T, dtype=torch.long)
    tgt = torch.full((n, T), -100, dtype=torch.long)
    for r, (i, t) in enumerate(rows):
        ids[r, : len(i)] = torch.tensor(i)
        tgt[r, : len(t)] = torch.tensor(t)
    return ids, tgt


@torch.no_grad()
def generate(model, prompts, budget, temperature, gen, max_answer=8):
    """Budget forcing, exactly as the server does it, for prompts of equal token length.

    Tokens are drawn one at a time for all rows in lockstep. The first generated token is
    normally <think>. Once a row has emitted <think>, every token it emits before </think>
    counts against its budget; when it has emitted `budget` thinking tokens (budget=None:
    unlimited) and would draw another, </think> is appended instead of drawing. After
    </think> the row draws its answer until "\n" (or max_answer tokens). "\n" ends a row
    wherever it comes, and so does the context length. Returns per row (answer text,
    thinking tokens used, whether </think> was forced, completion tokens, the "\n"
    included). Each step draws a token for every live row, forced or not."""
    B = len(prompts)
    ids = torch.tensor([encode(p) for p in prompts])
    assert ids.shape[1] == len(encode(prompts[0]))
    pk = pv = model.empty_cache(B)
    state = ["start"] * B  # start -> think -> answer -> done
    think_len, forced, ans, ntok = [0] * B, [False] * B, [[] for _ in range(B)], [0] * B
    logits, _, pk, pv = model(ids, pk, pv)
    last = logits[:, -1]
    while True:
        probs = F.softmax(last / temperature, dim=-1) if temperature > 0 else None
        draw = (torch.multinomial(probs, 1, generator=gen)[:, 0] if probs is not None
                else last.argmax(-1)).tolist()
        nxt = [EOS_ID] * B
        for r in range(B):
            if state[r] == "done":
                continue
            if state[r] == "think" and budget is not None and think_len[r] >= budget:
                t, forced[r] = END_ID, True
            else:
                t = draw[r]
            ntok[r] += 1
            nxt[r] = t
            if state[r] == "start" and t == THINK_ID:
                state[r] = "think"
            elif state[r] == "think":
                if t == END_ID:
                    state[r] = "answer"
                elif t == EOS_ID:  # the end-of-sequence token ends the sample anywhere
                    state[r] = "done"
                else:
                    think_len[r] += 1
            else:  # the answer (or a model that answered without opening its thinking)
                state[r] = "answer"
                if t == EOS_ID:
                    state[r] = "done"
                else:
                    ans[r].append(t)
                    if len(ans[r]) >= max_answer:
                        state[r] = "done"
        if pk.shape[3] >= model.ctx:  # no position left for another token
            state = ["done"] * B
        if all(s == "done" for s in state):
            break
        logits, _, pk, pv = model(torch.tensor(nxt)[:, None], pk, pv)
        last = logits[:, -1]
    return [(decode(a), think_len[r], forced[r], ntok[r]) for r, a in enumerate(ans)]


def quick_eval(model, seed, temperature=0.8, n=100):
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    out = {}
    for nops, d in [(2, 3), (4, 2), (6, 2), (6, 3)]:
        probs = [cell_problem(rng, nops, d) for _ in range(n)]
        for budget in (0, 8, None):
            res = generate(model, [render(x)[0] for x in probs], budget, temperature, gen)
            ok = sum(a == render(x)[2] for (a, *_), x in zip(res, probs))
            out[f"{nops}x{d}@{'inf' if budget is None else budget}"] = ok / n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="thinking")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=96)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--p-full", type=float, default=0.5, help="share of examples with the whole scratchpad")
    ap.add_argument("--p-none", type=float, default=0.1, help="share cut at 0 (<think></think>)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="models")
    ap.add_argument("--checkpoint", default=None, help="also save the state_dict here (not committed)")
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
    data = batches(rng, args.batch, args.ctx, args.p_full, args.p_none)
    t0 = time.time()
    for step in range(args.steps):
        model.train()
        ids, tgt = next(data)
        logits, _, _, _ = model(ids, model.empty_cache(args.batch), model.empty_cache(args.batch))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
        if step > 0 and step % 1000 == 0:
            model.eval()
            print("  quick @T=0.8:", quick_eval(model, 7, n=50), flush=True)
    train_seconds = time.time() - t0
    model.eval()
    if args.checkpoint:
        torch.save(model.state_dict(), args.checkpoint)
    print("quick @T=0.8 (100 samples/cell):", quick_eval(model, 123), flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{args.name}.onnx")
    L, H, dh = args.layers, args.heads, args.d_model // args.heads
    ex_ids = torch.tensor([encode("12+34+5=<think>46")] * 2)
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

    # Parity fixtures: a prefill from an empty cache (through the scratchpad, markers
    # included) and one decode step on top of it.
    with torch.no_grad():
        pre = torch.tensor([encode("17+305+9+48=<think>322+9+48=3"), encode("1+2+3+4+5+6=<think>3+3+4+5+6=")])
        lg, hd, pk, pv = model(pre, model.empty_cache(2), model.empty_cache(2))
        step_ids = torch.tensor([[STOI["3"]], [END_ID]])
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
        "task": ("multi-operand sums with thinking: '<x1>+<x2>+...+<xn>=' -> "
                 "'<think><line>=<line>...</think><sum>\\n', each line the one before with its first "
                 "two terms added (the first line: the prompt's), until two terms are left; "
                 f"{MIN_OPERANDS}-{MAX_OPERANDS} operands of 1-{MAX_DIGITS} digits; e.g. "
                 "'17+305+9+48=' -> '<think>322+9+48=331+48</think>379\\n'"),
        "vocab": VOCAB, "eos_token": EOS_ID, "context_length": args.ctx,
        "hidden_size": args.d_model, "layers": L, "heads": H, "head_dim": dh,
        "parameters": n_params,
        "positions": "rotary (GPT-NeoX layout, base 10000) on queries and keys; no position embedding",
        "special_tokens": {THINK: THINK_ID, END_THINK: END_ID},
        "thinking": {
            "start_token": THINK_ID, "end_token": END_ID, "start": THINK, "end": END_THINK,
            "line_separator": "=",
            "tokenizer": "greedy longest match: a vocabulary entry longer than one character "
                         "(only the two markers) is tried before single characters",
            "budget_forcing": "count tokens emitted after <think>; when the budget is spent and "
                              "</think> has not been emitted, append </think> instead of drawing, "
                              "then draw the answer up to the end-of-sequence token",
            "max_thinking_tokens": max_thinking_tokens(),
        },
        "prompt_grammar": {
            "prompt": f"operand ('+' operand){{{MIN_OPERANDS - 1},{MAX_OPERANDS - 1}}} '='",
            "operand": "a decimal integer of 1-3 digits without leading zeros (0 allowed)",
            "completion": "'<think>' (line ('=' line)*)? '</think>' number '\\n'; line: number ('+' number)+",
            "operands": [MIN_OPERANDS, MAX_OPERANDS], "digits": [1, MAX_DIGITS],
            "cell": "'<n>x<d>': n operands of exactly d digits each, e.g. '4x2'",
        },
        "onnx": {"inputs": ["input_ids [B,T] int64", "past_keys [L,B,H,P,dh]", "past_values [L,B,H,P,dh]"],
                 "outputs": ["logits [B,T,V]", "hidden [B,T,d] (last layer, after final LayerNorm)",
                             "present_keys [L,B,H,P+T,dh]", "present_values [L,B,H,P+T,dh]"],
                 "opset": 14},
        "recipe": {"steps": args.steps, "batch": args.batch, "optimizer": "AdamW(wd=0.01)",
                   "lr": args.lr, "schedule": "200-step warmup, cosine", "seed": args.seed,
                   "loss": "cross-entropy on completion tokens (<think>, scratchpad, answer, newline), "
                           "except a forced </think>",
                   "data": (f"operands n uniform in {MIN_OPERANDS}..{MAX_OPERANDS}, digits d uniform in "
                            f"1..{MAX_DIGITS}; half every operand exactly d digits, half each 1..d; "
                            f"scratchpad whole with p={args.p_full}, empty with p={args.p_none}, "
                            "else cut after a uniform 1..len-1 tokens and closed with </think>"),
                   "torch": torch.__version__, "train_seconds": round(train_seconds),
                   "threads": 1},
    }
    with open(os.path.join(args.out, f"{args.name}.manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes) sha256 {sha}", flush=True)


if __name__ == "__main__":
    main()
