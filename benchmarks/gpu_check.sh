#!/usr/bin/env bash
# The prepared GPU check (well under 10 minutes on one GPU): a CUDA smoke test of the unit tests
# that take a device, dissolve images/s at batch 256 for dissolver resolutions 32 / 64 / 128 in
# fp32 and bf16 (paper preset), a DIA vs CSI training step at 224 px input (ResNet-18, width 64), and
# the precision table on CUDA: the card's peak, dissolving in fp32 / bf16 autocast / channels_last /
# bf16 weights, eager and compiled, the library's DIA and CSI steps and the scorer's extraction in
# fp32 / bf16 x channels_last x compile (the same paths as on the CPU, docs/benchmarks.md).
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
python benchmarks/bench_precision.py --device cuda --preset tiny --dissolve-res 32 64 128 --batches 32 128 \
    --step-batch 32 --step-size 64 --width 64 --repeat 10 --compile
DIA_AUGMENT_SLOW=1 python -m pytest tests/filters/test_precision.py tests/train/test_precision.py -q -p no:cacheprovider
