#!/bin/bash
# Every GPU figure in one run (BENCHMARKS.md "GPU run"): golden case on the device, generator modes,
# training steps, encoders, guidance rendering, the CUDA tests, then torch.compile (slowest, last).
# Each step has its own time limit and writes as it goes, so a step that fails or runs out loses only
# itself. Usage: tools/gpu_checks.sh OUTDIR   (about 8 minutes on an H200)
out=${1:?usage: tools/gpu_checks.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
log=$out/all.log
step() { echo "=== $(date +%T) $*" | tee -a "$log"; }
step env
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee -a "$log"
python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)" 2>&1 | tee -a "$log"
step golden;     timeout 90  python3 tools/golden_on_device.py cuda 2>&1 | tee -a "$log"
step generator;  timeout 280 python3 tools/bench_generator.py --device cuda --frames 24 \
                   --modes official,fp16,bf16,fp16-dpm12,fp16-offload,fp32-tf32 --json "$out/generator.json" 2>&1 | tee -a "$log"
step train;      timeout 120 python3 tools/bench_train.py --size 512 --frames 16 --batch 1 --dtype bf16 --steps 5 \
                   --json "$out/train.json" 2>&1 | tail -4 | tee -a "$log"
step encoders;   timeout 60  python3 tools/bench_encoders.py --device cuda 2>&1 | tail -3 | tee -a "$log"
step render;     timeout 60  python3 tools/bench_render.py --device cuda --batch 1 8 32 2>&1 | tail -8 | tee -a "$log"
step cuda-tests; timeout 90  python3 -m pytest -q -p no:cacheprovider tests/flame/test_flame_model.py \
                   tests/tracking/test_flame_tracker.py -k cuda 2>&1 | tail -3 | tee -a "$log"
step compile;    timeout 180 python3 tools/bench_generator.py --device cuda --frames 24 --modes fp16-compile \
                   --json "$out/generator_compile.json" 2>&1 | tee -a "$log"
step done
