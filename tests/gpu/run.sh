#!/usr/bin/env bash
# GPU check for model serving (docs/benchmarks.md, "GPU check").
#
# On a machine with an NVIDIA GPU, CUDA 13 and cuDNN 9 libraries, and the .NET 10 SDK, this builds the
# benchmark, then measures ResNet18 on the GPU and on the CPU, in-process and through the gateway
# (OIP v2), with --require-gpu: the run fails unless ONNX Runtime's CUDA provider served every node
# in-process (CPU fallback disabled) and the server's model worker reports cuda:0 — no silent fallback.
# It finishes in under 5 minutes. Output: the markdown report on stdout (and in $GPU_REPORT if set).
#
# Environment:
#   OSAI_PREBUILT   folder holding an already built OSForAI.Benchmarks.dll (skips the build; for machines
#                   with only the .NET runtime)
#   DOTNET          the dotnet host to use (default: dotnet on PATH)
#   RESNET18        path to ResNet18.onnx (default: NuGet cache, else downloaded from the NuGet feed)
#   SECONDS_PER_ROW measured seconds per benchmark row (default 6)
#   GPU_REPORT      also write the report to this file
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dotnet="${DOTNET:-dotnet}"
seconds="${SECONDS_PER_ROW:-6}"

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "nvidia-smi not found: this check needs an NVIDIA GPU and its driver" >&2
  exit 2
fi
echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# CUDA and cuDNN libraries installed as Python wheels (nvidia-* packages, e.g. with PyTorch) are not on the
# loader path by default: add their lib folders.
for py in python3 python; do
  if command -v "$py" >/dev/null 2>&1 && nv="$("$py" -c 'import nvidia, os; print(os.pathsep.join(nvidia.__path__))' 2>/dev/null)"; then
    IFS=: read -ra roots <<<"$nv"
    for r in "${roots[@]}"; do
      for lib in "$r"/*/lib "$r"/cu*/lib; do
        [ -d "$lib" ] && LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      done
    done
    break
  fi
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"

if [ -n "${OSAI_PREBUILT:-}" ]; then
  bench="$OSAI_PREBUILT/OSForAI.Benchmarks.dll"
else
  echo "== build"
  "$dotnet" build -c Release "$root/tests/OSForAI.Benchmarks" -v quiet -nologo
  bench="$root/tests/OSForAI.Benchmarks/bin/Release/net10.0/OSForAI.Benchmarks.dll"
fi

# Which processes hold GPU memory while the benchmark runs (the benchmark itself and the model worker).
( sleep 30; for i in 1 2 3; do
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader 2>/dev/null | sed 's/^/[gpu processes] /'
    sleep 20
  done ) &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT

echo "== benchmark (ResNet18, GPU then CPU)"
args=(models --only resnet18 --devices gpu,cpu --require-gpu --seconds "$seconds")
[ -n "${RESNET18:-}" ] && args+=(--resnet "$RESNET18")
[ -n "${GPU_REPORT:-}" ] && args+=(--out "$GPU_REPORT")
"$dotnet" "$bench" "${args[@]}"
