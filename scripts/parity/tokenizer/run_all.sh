#!/bin/bash
# Full differential sweep: minivl vs reference tokenizers. Sequential, ~3 min on 2 cores.
# MINIVL=/path/to/minivl overrides the binary (default: build/minivl of this repository);
# MINIVL_SHARED the shared data (default: ../shared beside the repository). Setup: README.md here.
set -e
cd "$(dirname "$0")"
PY=/usr/bin/python3   # needs Debian python3-sentencepiece (0.1.97)
mkdir -p runs
$PY check_golden.py                                   # step 1: references (and minivl) vs golden.jsonl
for s in 1 2 3; do for n in qwen2 phi2 internlm2 phi3 alpaca; do
  $PY gen.py $n $s 2000 > runs/$n.s$s.cases.jsonl    # step 2: seeded random cases
  $PY sweep.py $n runs/$n.s$s.cases.jsonl --max-shrink 10   # compare + ddmin-shrink
  mv runs/$n.fail.jsonl runs/$n.s$s.fail.jsonl; mv runs/$n.min.jsonl runs/$n.s$s.min.jsonl
done; done
for n in qwen2 phi2 internlm2 phi3 alpaca; do $PY targeted.py $n; $PY bigdoc.py $n; $PY pmode.py $n runs/$n.s2.cases.jsonl 300; done
$PY unicode_sweep.py qwen2 | tail -1; $PY unicode_sweep.py phi2 | tail -1
$PY nfc_sweep.py qwen2
$PY summarize.py
