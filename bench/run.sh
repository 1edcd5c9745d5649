#!/usr/bin/env bash
# run.sh — the benchmark of issue 4 in one command: builds minivl and the probes, generates the
# SYNTH-1 full-size InternVL2-1B checkpoint if absent, writes GGUF files of its language model,
# measures the machine's limits (bandwidth and compute probes, every round), runs `minivl bench` and llama.cpp
# (node-llama-cpp) on the same workload, and prints the results table with ratios.
#
#   bench/run.sh                      # everything with the defaults below
#   THREADS=2 REPS=5 VISION_REPS=3 DECODE_TOKENS=16 bench/run.sh
#   ROUNDS=3 VARIANTS="f32:q8 f32:q4" GGUF_TYPES=q8_0 bench/run.sh   # the prefill ratio, 3 rounds
#
# Environment: THREADS (2), REPS (5; medians), VISION_REPS (3), DECODE_TOKENS (16), ROUNDS (1: each
#   round runs every minivl variant and then every llama.cpp type; the report takes each figure's
#   median over the rounds, so a burst of load from this VM's neighbours lands on both sides),
#   MODEL (models/synth-internvl2-1b), OUT (build/bench-results), GGUF_TYPES ("bf16 q8_0 q4_0"),
#   VARIANTS ("f32:none bf16:none bf16:none:q8 f32:q8 f32:q4": minivl precision:quant[:vision quant],
#   the third field --quantize-vision; ones this build does not support are skipped), PEER (1; 0
#   skips llama.cpp), BUILD_DIR (build).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
THREADS=${THREADS:-2}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-1}
VISION_REPS=${VISION_REPS:-3}
DECODE_TOKENS=${DECODE_TOKENS:-16}
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/synth-internvl2-1b}
OUT=${OUT:-$BUILD_DIR/bench-results}
GGUF_TYPES=${GGUF_TYPES:-"bf16 q8_0 q4_0"}
VARIANTS=${VARIANTS:-"f32:none bf16:none bf16:none:q8 f32:q8 f32:q4"}
PEER=${PEER:-1}
MINIVL=$BUILD_DIR/minivl
log() { echo "[bench] $*" >&2; }

log "building ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target minivl-cli bw_probe flops_probe >/dev/null

if [ ! -f "$MODEL/model.safetensors" ]; then
  log "generating the SYNTH-1 InternVL2-1B checkpoint in $MODEL"
  "$MINIVL" synth --config assets/InternVL2-1B/config.json --tokenizer assets/InternVL2-1B --out "$MODEL" >/dev/null
fi
mkdir -p "$OUT"
rm -f "$OUT"/minivl-*.json "$OUT"/llama-*.json "$OUT"/bw*.json "$OUT"/flops*.json

run_minivl() { # ROUND PRECISION QUANT [VISION_QUANT]
  local r=$1 prec=$2 quant=$3 vquant=${4:-none} base="$OUT/minivl-$2-$3"
  [ "$vquant" = none ] || base="$base-v$vquant"
  base="$base@$r"
  log "round $r: minivl bench --precision $prec --quantize $quant --quantize-vision $vquant"
  if ! "$MINIVL" bench -m "$MODEL" -t "$THREADS" --reps "$REPS" --vision-reps "$VISION_REPS" \
      --decode-tokens "$DECODE_TOKENS" --precision "$prec" --quantize "$quant" --quantize-vision "$vquant" --json \
      >"$base.json" 2>"$base.err"; then
    log "  skipped: $(tail -n 1 "$base.err")"
    rm -f "$base.json"
  fi
}

if [ "$PEER" = 1 ]; then
  if [ ! -d bench/peer/node_modules/node-llama-cpp ]; then
    log "installing node-llama-cpp (npm)"
    (cd bench/peer && npm install --no-audit --no-fund >/dev/null)
  fi
  for t in $GGUF_TYPES; do
    gg="$OUT/llm-$t.gguf"
    if [ ! -f "$gg" ] || [ "$MODEL/model.safetensors" -nt "$gg" ] || [ ! -f "$OUT/gguf-$t.json" ]; then
      log "writing $gg"
      node bench/gguf_write.mjs "$MODEL" "$gg" --type "$t" >"$OUT/gguf-$t.json"
    fi
  done
fi

for r in $(seq "$ROUNDS"); do
  # the limits move over minutes on a shared VM (bandwidth read 28-41 GB/s within one run, and one
  # compute probe caught the BF16 peak at half): probed every round, the report takes the medians
  log "round $r: probes: memory bandwidth, compute peak ($THREADS threads)"
  "$BUILD_DIR/bench/bw_probe" -t "$THREADS" --json >"$OUT/bw@$r.json"
  "$BUILD_DIR/bench/flops_probe" -t "$THREADS" --json >"$OUT/flops@$r.json"
  for v in $VARIANTS; do
    IFS=: read -r prec quant vquant <<<"$v"
    run_minivl "$r" "$prec" "$quant" "${vquant:-none}"
  done
  if [ "$PEER" = 1 ]; then
    for t in $GGUF_TYPES; do
      log "round $r: llama.cpp $t"
      node bench/peer/llama_bench.mjs "$OUT/llm-$t.gguf" -t "$THREADS" --reps "$REPS" \
        --decode-tokens "$DECODE_TOKENS" >"$OUT/llama-$t@$r.json"
    done
  fi
done

node bench/report.mjs "$OUT" "$MODEL" | tee "$OUT/report.md"
