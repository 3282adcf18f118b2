#!/usr/bin/env bash
# The prepared device check: one JSON with every figure a user asks of a card (dissolve images/s,
# the DIA and CSI steps at 224 px, the scorer's extraction; fp32 / bf16 / compiled; peak memory;
# the card's name), written to benchmarks/results/gpu_check.json. Sized for under 8 minutes on one
# GPU. Run from the repository root:  bash benchmarks/gpu_check.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
timeout 480 python benchmarks/gpu_check.py --device cuda --out benchmarks/results/gpu_check.json
