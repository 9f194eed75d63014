#!/usr/bin/env bash
# Regenerates constraints.txt: installs the project as the README does into a fresh virtual
# environment (keeping the pinned torch / torchvision pair), then pins every installed package.
#
#   bash scripts/refresh_constraints.sh            # writes constraints.txt
#   TORCH_PAIR="torch==X torchvision==Y" bash scripts/refresh_constraints.sh   # move the pair too
set -euo pipefail
cd "$(dirname "$0")/.."

pair=${TORCH_PAIR:-$(grep -E '^(torch|torchvision)==' constraints.txt | tr '\n' ' ')}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
printf '%s\n' $pair > "$work/pair.txt"
"$work/venv/bin/pip" install -q -c "$work/pair.txt" -e ".[dev]"

{
  echo "# Every package the README's install brings in, pinned (direct and transitive dependencies,"
  echo "# test and dev tools included). torch / torchvision are the PyPI pair known to work together:"
  echo "# the machine's local CPU-only torch 2.13.0 wheel breaks torchvision's compiled ops."
  echo "# Regenerate with: bash scripts/refresh_constraints.sh (see the script for moving the torch pair)."
  echo "# On a GPU cluster with its own torch, install with: pip install -e \".[dev]\" (no constraints)."
  "$work/venv/bin/pip" freeze --exclude-editable | grep -vE '^(-e |maskformer)' | sort -f
} > constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins"
