#!/usr/bin/env bash
# Installs `osai` for this user as a .NET tool, from this checkout, without a package registry:
#   1. dotnet pack runtime/OSForAI.Cli -o .tools        (the tool package, in .tools/ at the repository root)
#   2. dotnet tool install -g --source .tools OSForAI.Cli (into ~/.dotnet/tools; any earlier install is replaced)
# Run it again after changing the code. Pass --tool-path DIR to install into DIR instead of ~/.dotnet/tools.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target=(-g)
if [ "${1:-}" = "--tool-path" ] && [ -n "${2:-}" ]; then
  target=(--tool-path "$2")
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--tool-path DIR]" >&2
  exit 2
fi

dotnet pack "$repo/runtime/OSForAI.Cli" -c Release -o "$repo/.tools" --nologo -v quiet
# The version stays the same between builds, and `dotnet tool update` skips a version it already has: replace it.
dotnet tool uninstall "${target[@]}" OSForAI.Cli >/dev/null 2>&1 || true
dotnet tool install "${target[@]}" --source "$repo/.tools" OSForAI.Cli

