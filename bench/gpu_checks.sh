#!/usr/bin/env bash
# The prepared GPU checks, one short run on a CUDA machine (CI has no GPU):
#   1. the CUDA tests: CUDA vs CPU parity of the deformable-attention core and of a tiny
#      Mask2Former, fp16 autocast of the criterion, the fp16 AMP trainer and its exact resume;
#   2. bench_all on the GPU in fp32: inference (512x512, 800x1088), the training step, the
#      deformable attention vs grid_sample forward and backward, peak GPU memory, Table 5 memory;
#   3. the same timings under fp16 autocast (no memory rows).
# Each stage's output is written to LOG_DIR; a failing stage is reported and the next one runs.
#
# Usage (repository root): bash bench/gpu_checks.sh [LOG_DIR]    (default ./output/gpu_checks)
# STAGE_TIMEOUT=SECONDS bounds each stage (for a leased machine); RUNS sets the timed repetitions.
set -uo pipefail
LOG=${1:-./output/gpu_checks}
RUNS=${RUNS:-10}
mkdir -p "$LOG"
export PYTHONUNBUFFERED=1
failed=()

stage() {  # stage NAME COMMAND...: runs COMMAND, its output teed to LOG/NAME.txt
    local name=$1
    shift
    echo "== $(date +%T) $name"
    local bound=()
    [[ -n ${STAGE_TIMEOUT:-} ]] && bound=(timeout "$STAGE_TIMEOUT")
    if ! "${bound[@]}" "$@" 2>&1 | tee "$LOG/$name.txt"; then
        failed+=("$name")
    fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG/gpu.txt"
python -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__)" | tee -a "$LOG/gpu.txt"

stage cuda_tests python -m pytest -q -rs -p no:cacheprovider tests/modeling/test_cuda_parity.py \
    tests/engine/test_amp_cuda.py tests/criterion/test_set_criterion.py
stage bench_cuda_fp32 python bench/bench_all.py --device cuda --runs "$RUNS" \
    --only bench_m2f_inference bench_m2f_train_step bench_msdeform_attn bench_point_loss_memory
stage bench_cuda_amp python bench/bench_all.py --device cuda --amp --runs "$RUNS" --skip-memory \
    --only bench_m2f_inference bench_m2f_train_step bench_msdeform_attn

if ((${#failed[@]})); then
    echo "== failed stages: ${failed[*]} (their output: $LOG/<stage>.txt)"
    exit 1
fi
echo "== all stages passed; figures in $LOG"
