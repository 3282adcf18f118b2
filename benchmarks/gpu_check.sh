#!/usr/bin/env bash
# The prepared GPU check (well under 10 minutes on one GPU): a CUDA smoke test of the unit tests
# that take a device, dissolve images/s at batch 256 for dissolver resolutions 32 / 64 / 128 in
# fp32 and bf16 (paper preset), and a DIA vs CSI training step at 224 px input (ResNet-18, width 64).
# Run from the repository root on a machine with a GPU:  bash benchmarks/gpu_check.sh
set -euo pipefail
export PYTHONUNBUFFERED=1
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
for dtype in float32 bfloat16; do
  python benchmarks/bench_dissolve.py --device cuda --dtype "$dtype" --preset paper --batches 256 \
      --resolutions 32 64 128 --repeat 10
done
python benchmarks/bench_train.py --device cuda --batch-size 32 --image-size 224 --channels 3 --width 64 \
    --dissolver-resolution 32 --repeats 5
