#!/usr/bin/env bash
# Runs the README's main job as written, then checks what issues 7 and 15 ask of it:
#   * OUTPUT_DIR holds config.yaml, log.txt, metrics.json, TensorBoard events, model_final.pth,
#     last_checkpoint, inference/results.json and visualizations/*.png;
#   * the quality bar on the shapes val split: PQ >= 80, mask AP >= 60, mIoU >= 90;
#   * the wall time of the whole command is at most 10 minutes;
#   * `--eval-only MODEL.WEIGHTS <out>/model_final.pth` reproduces the same metrics.
# It prints the learning curve (loss and metrics against iteration) from metrics.json.
#
# Usage (from the repository root):
#   scripts/check_main_job.sh [OUTPUT_DIR] [KEY VALUE ...]
# OUTPUT_DIR defaults to a fresh folder under ./output; extra KEY VALUE pairs are passed to
# train_net.py (leave them out to measure the README command as written). Thresholds can be set
# with MIN_PQ, MIN_AP, MIN_MIOU and MAX_SECONDS. Exit status 0 when every check passes.
set -euo pipefail

CONFIG=configs/shapes/panoptic-segmentation/maskformer2_R18_shapes.yaml
OUT=${1:-./output/check_main_job_$(date +%Y%m%d_%H%M%S)}
shift || true
MIN_PQ=${MIN_PQ:-80} MIN_AP=${MIN_AP:-60} MIN_MIOU=${MIN_MIOU:-90} MAX_SECONDS=${MAX_SECONDS:-600}

if [[ -e "$OUT/last_checkpoint" ]]; then
    echo "error: $OUT already holds a run; pass a new OUTPUT_DIR so that the timing is of a fresh run." >&2
    exit 2
fi

start=$(date +%s)
python tools/train_net.py --config-file "$CONFIG" OUTPUT_DIR "$OUT" "$@"
seconds=$(( $(date +%s) - start ))
echo "== main job: ${seconds} s wall time"

python tools/train_net.py --config-file "$CONFIG" --eval-only \
    OUTPUT_DIR "$OUT/eval_only" MODEL.WEIGHTS "$OUT/model_final.pth" "$@" > "$OUT/eval_only.stdout" 2>&1

python - "$OUT" "$seconds" "$MIN_PQ" "$MIN_AP" "$MIN_MIOU" "$MAX_SECONDS" <<'EOF'
import glob
import json
import math
import os
import sys

out, seconds = sys.argv[1], int(sys.argv[2])
min_pq, min_ap, min_miou, max_seconds = (float(x) for x in sys.argv[3:])
failures = []

for name in ("config.yaml", "log.txt", "metrics.json", "model_final.pth", "last_checkpoint"):
    if not os.path.isfile(os.path.join(out, name)):
        failures.append(f"missing {name}")
if not glob.glob(os.path.join(out, "events.out.tfevents.*")):
    failures.append("missing TensorBoard events")
if not glob.glob(os.path.join(out, "visualizations", "*.png")):
    failures.append("missing visualizations/*.png")

print("== learning curve (iteration: total_loss | PQ  mask AP  mIoU)")
with open(os.path.join(out, "metrics.json")) as f:
    for line in f:
        record = json.loads(line)
        if "total_loss" in record:
            print(f"  {record['iteration']:>6}: loss {record['total_loss']:.3f}  lr {record.get('lr', float('nan')):.2e}")
        if "panoptic_seg/PQ" in record:
            print(
                f"  {record['iteration']:>6}: PQ {record['panoptic_seg/PQ']:.2f}  "
                f"AP {record.get('segm/AP', float('nan')):.2f}  mIoU {record.get('sem_seg/mIoU', float('nan')):.2f}"
            )

with open(os.path.join(out, "inference", "results.json")) as f:
    results = json.load(f)
pq, ap, miou = results["panoptic_seg"]["PQ"], results["segm"]["AP"], results["sem_seg"]["mIoU"]
print(f"== final: PQ {pq:.2f}  mask AP {ap:.2f}  mIoU {miou:.2f}  ({seconds} s)")
for label, value, bar in (("PQ", pq, min_pq), ("mask AP", ap, min_ap), ("mIoU", miou, min_miou)):
    if not value >= bar:
        failures.append(f"{label} {value:.2f} < {bar}")
if seconds > max_seconds:
    failures.append(f"wall time {seconds} s > {max_seconds} s")

with open(os.path.join(out, "eval_only", "inference", "results.json")) as f:
    again = json.load(f)
for task, metrics in results.items():
    for metric, value in metrics.items():
        other = again.get(task, {}).get(metric)
        if other is None or not (value == other or (math.isnan(value) and math.isnan(other))):
            failures.append(f"--eval-only gives {task}/{metric} = {other}, training gave {value}")

if failures:
    print("== FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("== every check passed")
EOF
