#!/usr/bin/env bash
# Rebuilds the shipped predictors (and the router) and their eval reports from scratch (about 3 minutes on
# 2 cores; `tools/build-predictors.sh strong-binary` builds one): starts the reference LM, collects train/validation/test data with K = 32
# samples per prompt, trains, evaluates. Datasets go to data/ (not committed: the seeds
# make them reproducible); predictors to models/predictors/, reports to reports/.
# `tools/build-predictors.sh thinking` builds the thinking-budget predictor (about 15 minutes:
# K = 16 samples at each of 6 thinking budgets, generations up to 70 tokens long; collection
# ran at about 3-5 prompts a second on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
A="node bin/allot.mjs"
PORT=${PORT:-8123}
LM="http://127.0.0.1:$PORT"
mkdir -p data
$A serve-lm --port "$PORT" > data/serve-lm.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$LM/health" > /dev/null && break; sleep 0.1; done

$A prompts --split train --count 2000 --seed 1 > data/train.jsonl
$A prompts --split validation --count 400 --seed 2 > data/validation.jsonl
$A prompts --split test --count 1000 --seed 3 > data/test.jsonl

# name  model  reward  [chat]; arguments, if any, pick which to build (e.g. strong-binary strong-graded).
# The -chat predictors are trained on conversations (collect --chat: the prompt as the
# user's message, its hidden state through the chat template with the generation prompt)
# and serve chat requests; the others serve prompts.
ONLY=" $* "
for spec in "strong-binary strong verifier-binary" "strong-graded strong verifier-graded" "weak-binary weak verifier-binary" \
            "strong-binary-chat strong verifier-binary chat" "strong-graded-chat strong verifier-graded chat" "weak-binary-chat weak verifier-binary chat"; do
  read -r name model reward form <<< "$spec"
  [ -z "$*" ] || [[ "$ONLY" == *" $name "* ]] || continue
  CHAT=""; [ "$form" = chat ] && CHAT="--chat"
  # From scratch: collect would otherwise resume an old dataset, which is wrong when the
  # model behind the same name has been retrained.
  rm -f "data/$name-"*.jsonl "data/$name-"*.jsonl.meta.json
  for split in train validation test; do
    $A collect --prompts "data/$split.jsonl" --out "data/$name-$split.jsonl" --lm "$LM" --model "$model" --reward "$reward" $CHAT
  done
  $A train --train "data/$name-train.jsonl" --validation "data/$name-validation.jsonl" --out "models/predictors/$name"
  $A eval --data "data/$name-test.jsonl" --predictor "models/predictors/$name" --out "reports/$name"
done

# The router over weak and strong: the same prompts' datasets from both models (built
# above), read through weak's hidden states. Costs: a strong sample takes 2.9× a weak one's
# time at full batches (npm run bench:lm), charged as 3 whole units.
if [ -z "$*" ] || [[ "$ONLY" == *" route "* ]]; then
  $A train-route --train weak=data/weak-binary-train.jsonl,strong=data/strong-binary-train.jsonl \
    --validation weak=data/weak-binary-validation.jsonl,strong=data/strong-binary-validation.jsonl \
    --costs weak=1,strong=3 --input weak \
    --cost-basis "a strong sample takes 2.9× a weak one's time at full batches (npm run bench:lm, 64 prompts × n = 32: 3,506 vs 10,102 samples/s), rounded up to whole units" \
    --out models/predictors/route
  $A eval --data weak=data/weak-binary-test.jsonl,strong=data/strong-binary-test.jsonl --predictor models/predictors/route --out reports/route
fi
# The router for conversations: the same, on the -chat datasets.
if [ -z "$*" ] || [[ "$ONLY" == *" route-chat "* ]]; then
  $A train-route --train weak=data/weak-binary-chat-train.jsonl,strong=data/strong-binary-chat-train.jsonl \
    --validation weak=data/weak-binary-chat-validation.jsonl,strong=data/strong-binary-chat-validation.jsonl \
    --costs weak=1,strong=3 --input weak \
    --cost-basis "a strong sample takes 2.9× a weak one's time at full batches (npm run bench:lm, 64 prompts × n = 32: 3,506 vs 10,102 samples/s), rounded up to whole units" \
    --out models/predictors/route-chat
  $A eval --data weak=data/weak-binary-chat-test.jsonl,strong=data/strong-binary-chat-test.jsonl --predictor models/predictors/route-chat --out reports/route-chat
fi

# Reward against thinking budget: the thinking model's task (sums of 2-6 operands), 2,400
# training, 300 validation and 600 test prompts (held out: the splits are disjoint by prompt), K = 16 samples at each thinking budget
# (thinking_token_budget 0, 4, 8, 16, 32, 64) at temperature 0.8, each sample's tokens recorded.
if [ -z "$*" ] || [[ "$ONLY" == *" thinking "* ]]; then
  $A prompts --task sums --split train --count 2400 --seed 1 > data/sums-train.jsonl
  $A prompts --task sums --split validation --count 300 --seed 2 > data/sums-validation.jsonl
  $A prompts --task sums --split test --count 600 --seed 3 > data/sums-test.jsonl
  rm -f data/thinking-*.jsonl data/thinking-*.jsonl.meta.json
  for split in train validation test; do
    $A collect --prompts "data/sums-$split.jsonl" --out "data/thinking-$split.jsonl" --lm "$LM" --model thinking \
      --samples 16 --thinking-budgets 0,4,8,16,32,64
  done
  $A train --train data/thinking-train.jsonl --validation data/thinking-validation.jsonl --out models/predictors/thinking
  $A eval --data data/thinking-test.jsonl --predictor models/predictors/thinking --out reports/thinking/allocation --b-max 8
fi

# The same, asked as conversations (collect --chat: the sum as the user's message, its hidden
# state through the chat template): the thinking predictor for chat requests (the OpenAI
# clients' /v1/chat/completions and the Responses API), on the first 800 training, 150
# validation and 200 test prompts of the same splits (fewer: it was collected on a busy machine).
if [ -z "$*" ] || [[ "$ONLY" == *" thinking-chat "* ]]; then
  [ -f data/sums-train.jsonl ] || $A prompts --task sums --split train --count 2400 --seed 1 > data/sums-train.jsonl
  head -800 data/sums-train.jsonl > data/sums-chat-train.jsonl
  [ -f data/sums-validation.jsonl ] || $A prompts --task sums --split validation --count 300 --seed 2 > data/sums-validation.jsonl
  head -150 data/sums-validation.jsonl > data/sums-chat-validation.jsonl
  [ -f data/sums-test.jsonl ] || $A prompts --task sums --split test --count 600 --seed 3 > data/sums-test.jsonl
  head -200 data/sums-test.jsonl > data/sums-chat-test.jsonl
  rm -f data/thinking-chat-*.jsonl data/thinking-chat-*.jsonl.meta.json
  for split in train validation test; do
    $A collect --prompts "data/sums-chat-$split.jsonl" --out "data/thinking-chat-$split.jsonl" --lm "$LM" --model thinking \
      --samples 16 --thinking-budgets 0,4,8,16,32,64 --chat
  done
  $A train --train data/thinking-chat-train.jsonl --validation data/thinking-chat-validation.jsonl --out models/predictors/thinking-chat
  $A eval --data data/thinking-chat-test.jsonl --predictor models/predictors/thinking-chat --out reports/thinking/allocation-chat --b-max 8
fi
