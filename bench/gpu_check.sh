#!/usr/bin/env bash
# The GPU checks of issue 4 in one go (run from the repo root on a machine with one CUDA GPU, pytest importable for the tiny models' helpers; each step has its own
# time limit so one hang cannot eat the rest). Results land in ${OUT:-bench/results/gpu}:
#   fast_phases_<shape>.json   where exact and fast spend their time (set-up, VJPs, JVPs, the rest), side by side
#                              with HF's own gelu_new instead of its one-kernel twin (+nofuse: GPT-J's; on Llama,
#                              which has no gelu_new, the same code twice: the noise)
#   <shape>_fp16.json          lre_speed.py's table (exact, fast at rank 192, rank sweep)
#   correctness.json           the GPU paths (packed suffixes, sums/QR/SVD on the device) against a CPU reference,
#                              float64, tiny models of the test suite's architectures (bench/gpu_correctness.py)
# A transformers wheel in .whl/ (pip download'ed here) is installed into /tmp/site first, if present.
set -u
export PYTHONUNBUFFERED=1
out=${OUT:-bench/results/gpu}; mkdir -p "$out"
py=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && PYTHONPATH=/tmp/site $py -c "import transformers" && export PYTHONPATH=/tmp/site
fi
$py -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name())"
timeout ${CORRECT_S:-120} $py bench/gpu_correctness.py --json "$out/correctness.json"
runs=${PHASES_RUNS:-exact+nofuse,exact,fast:q1+nofuse,fast:q1,fast:q0}
for shape in llama2-7b gptj-6b; do
  timeout ${PHASES_S:-150} $py bench/fast_phases.py --device cuda --config $shape --json "$out/fast_phases_$shape.json" \
    --runs $runs --repeat 2
done
timeout ${SPEED_S:-130} $py bench/lre_speed.py --device cuda --config llama2-7b --ranks 64,192 --json "$out/llama2-7b_fp16.json"
timeout ${SPEED_S:-130} $py bench/lre_speed.py --device cuda --config gptj-6b --ranks 192 --json "$out/gptj-6b_fp16.json"
