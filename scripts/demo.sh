#!/usr/bin/env bash
# The main job: build minivl and answer a question about an image, streamed.
#   scripts/demo.sh [MODEL_DIR] [IMAGE] [QUESTION]
# Without MODEL_DIR a full-size SYNTH-1 InternVL2-1B checkpoint (deterministic synthetic weights, real
# shapes, real tokenizer) is generated once under models/ — its words are noise, but every stage of
# the pipeline runs at real size, so the timings are real.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

MODEL=${1:-}
IMAGE=${2:-assets/chelsea.png}
QUESTION=${3:-Describe this image in detail.}
if [ -z "$MODEL" ]; then
  MODEL=models/synth-internvl2-1b
  if [ ! -f "$MODEL/model.safetensors" ]; then
    echo "No checkpoint given: generating a full-size SYNTH-1 InternVL2-1B in $MODEL (1.9 GB, once)..."
    build/minivl synth --config assets/InternVL2-1B/config.json --tokenizer assets/InternVL2-1B --out "$MODEL"
  fi
  echo "NOTE: $MODEL holds SYNTH-1 synthetic weights: the answer below is noise by design;"
  echo "      it shows the whole pipeline and its speed. Pass a real checkpoint directory for real answers."
fi
echo "\$ minivl run -m $MODEL -i $IMAGE -p \"$QUESTION\" -n 48"
build/minivl run -m "$MODEL" -i "$IMAGE" -p "$QUESTION" -n 48
