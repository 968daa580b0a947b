#!/usr/bin/env bash
# Copies a diffusion training run into models/<name>/: the EMA inference model (model.safetensors + model.json), the
# newest full training checkpoint (checkpoint/: train.safetensors + state.json, for `genms train diffusion
# --resume-from models/<name>/checkpoint`) and the loss log. Usage: tools/snapshot_diffusion_model.sh <run dir> <name>
set -euo pipefail
run="$1"; name="$2"
cd "$(dirname "$0")/.."
dest="models/$name"
latest="$run/checkpoints/$(cat "$run/checkpoints/LATEST")"
mkdir -p "$dest/checkpoint"
cp "$run/model/model.safetensors" "$run/model/model.json" "$dest/"
cp "$latest/train.safetensors" "$latest/state.json" "$dest/checkpoint/"
cp "$run/log.jsonl" "$dest/train_log.jsonl"
python3 - "$dest" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(f"{d}/model.json")); s = json.load(open(f"{d}/checkpoint/state.json"))
print(f"{d}: model at step {m['steps']} ({m['samples_seen']} samples); checkpoint at step {s['step']}, "
      f"{s['samples_seen']} samples, {s['wall_s']/3600:.2f} h wall, {s['cpu_s']/3600:.2f} CPU-h")
PY
