#!/usr/bin/env bash
# Packs the GPU check for a GPU machine that has no .NET SDK and no network: the .NET runtime this
# machine runs, a Release build of the benchmark (with ONNX Runtime and its CUDA provider), ResNet18 and
# run.sh, in one .tar.xz — optionally split into pieces of a given size for size-limited transfers.
#
#   tests/gpu/bundle.sh OUT_DIR [PIECE_BYTES]
#
# On the GPU machine: cat PIECES > b.tar.xz (or use the single file), tar xJf b.tar.xz, then
#   bundle/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: bundle.sh OUT_DIR [PIECE_BYTES]}"
piece="${2:-}"
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
b="$stage/bundle"
mkdir -p "$b/dn/host" "$b/dn/shared" "$b/app" "$out"

echo "building the benchmark (Release)…" >&2
dotnet build -c Release "$root/tests/OSForAI.Benchmarks" -v quiet -nologo >&2
cp -a "$root/tests/OSForAI.Benchmarks/bin/Release/net10.0/." "$b/app/"
find "$b/app/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
rm -f "$b/app/"*.pdb

cp -a "$dotnet_root/dotnet" "$b/dn/"
cp -a "$dotnet_root/host/fxr" "$b/dn/host/"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$dotnet_root/shared/Microsoft.AspNetCore.App" "$b/dn/shared/"

resnet="${RESNET18:-$HOME/.nuget/packages/microsoft.ml.dnnimagefeaturizer.resnet18/0.23.1/tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx}"
[ -f "$resnet" ] || { echo "ResNet18.onnx not found at $resnet (set RESNET18, or run the model benchmark once to download it)" >&2; exit 2; }
cp "$resnet" "$b/resnet18.onnx"

mkdir -p "$b/tests/gpu"
cp "$root/tests/gpu/run.sh" "$b/tests/gpu/run.sh"
cat > "$b/run.sh" <<'INNER'
#!/usr/bin/env bash
here="$(cd "$(dirname "$0")" && pwd)"
export DOTNET="$here/dn/dotnet" DOTNET_ROOT="$here/dn" OSAI_PREBUILT="$here/app" RESNET18="$here/resnet18.onnx"
exec bash "$here/tests/gpu/run.sh" "$@"
INNER
chmod +x "$b/run.sh"

echo "compressing…" >&2
tar -C "$stage" -cf - bundle | xz -6 -T0 > "$out/osforai-gpu-check.tar.xz"
if [ -n "$piece" ]; then
  split -b "$piece" -d -a 2 "$out/osforai-gpu-check.tar.xz" "$out/osforai-gpu-check.tar.xz.part"
  rm "$out/osforai-gpu-check.tar.xz"
fi
ls -l "$out" >&2
