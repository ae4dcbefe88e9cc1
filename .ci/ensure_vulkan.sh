#!/usr/bin/env bash
# Install Mesa's lavapipe (software Vulkan) when wgpu finds no Vulkan adapter and apt is usable.
set -uo pipefail
PY="${1:-python3}"
has_vulkan() {
  "$PY" - <<'PYEOF' 2>/dev/null
import sys, wgpu
adapters = wgpu.gpu.enumerate_adapters_sync()
sys.exit(0 if any(a.info.get("backend_type") == "Vulkan" for a in adapters) else 1)
PYEOF
}
if has_vulkan; then
  echo "vulkan: a Vulkan adapter is available"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "vulkan: no Vulkan adapter and no root/sudo for apt; wgpu tests will use what is available"; exit 0; fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "vulkan: no Vulkan adapter and no apt-get; wgpu tests will use what is available"; exit 0
fi
echo "vulkan: installing mesa-vulkan-drivers (lavapipe)"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1 \
  || echo "vulkan: apt-get install failed; continuing without lavapipe"
has_vulkan && echo "vulkan: lavapipe ready" || echo "vulkan: still no Vulkan adapter"
exit 0
