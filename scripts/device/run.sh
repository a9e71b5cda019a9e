#!/usr/bin/env bash
# The device kit's checks on a GPU machine (no network; PyTorch installed):
#
#   bash .device-kit/run.sh OUT_DIR
#
# checks the WebGPU adapter, runs the parity tests on webgpu at the fixtures'
# widths and one full-width iteration against the cpu backend, then the bench
# (64x1 64x4 128x1 128x4 256x1 256x8) on webgpu beside PyTorch (CUDA when it
# has it); writes OUT_DIR/device.json, OUT_DIR/device.md and OUT_DIR/run.log.
# Ends within 8 minutes: every step has its share (scripts/device/check.ts).
#
# DEVICE_KIT_DRY=1: the same steps, shrunk (widths 4 and 16, one timed
# iteration) for a machine without a GPU (lavapipe, PyTorch on the CPU), with
# 15 minutes. DEVICE_KIT_REPO: the repository (default: the kit's parent).
# Built by `deno task device:kit` (scripts/device_kit.ts) into .device-kit/.
set -uo pipefail
START=$SECONDS
KIT=$(cd "$(dirname "$0")" && pwd)
REPO=${DEVICE_KIT_REPO:-$(dirname "$KIT")}
OUT=${1:?usage: run.sh OUT_DIR}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/run.log") 2>&1
DRY=${DEVICE_KIT_DRY:-0}
if [ "$DRY" = 1 ]; then LIMIT=900; else LIMIT=480; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/discogan-kit.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
notes=()
note() { notes+=("$1"); echo "run.sh: $1"; }

# Unpack: xz when the machine has it, else Python's lzma (PyTorch's Python is there).
unpack() {
  if command -v xz >/dev/null && command -v tar >/dev/null; then
    xz -dc "$KIT/deno.xz" >"$WORK/deno" && xz -dc "$KIT/payload.tar.xz" | tar -xf - -C "$WORK"
  else
    python3 - "$KIT" "$WORK" <<'EOF'
import lzma, shutil, sys, tarfile
kit, work = sys.argv[1:]
with lzma.open(f"{kit}/deno.xz") as src, open(f"{work}/deno", "wb") as dst:
    shutil.copyfileobj(src, dst)
with tarfile.open(f"{kit}/payload.tar.xz") as t:
    t.extractall(work)
EOF
  fi
}
if ! unpack; then
  echo "run.sh: cannot unpack the kit in $KIT (deno.xz, payload.tar.xz): rebuild it with deno task device:kit"
  exit 1
fi
chmod +x "$WORK/deno"
note "unpacked in $((SECONDS - START)) s: $("$WORK/deno" --version | head -1)"

# Vulkan: the loader (the kit's when the machine has none) and NVIDIA's driver
# manifest (written when the driver library is there but its manifest is not,
# as in containers given the GPU for compute only).
if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  note "Vulkan loader: the machine's"
elif [ -f "$WORK/lib/libvulkan.so.1" ]; then
  export LD_LIBRARY_PATH="$WORK/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "Vulkan loader: the kit's (the machine has none)"
else
  note "no Vulkan loader on the machine or in the kit: webgpu cannot start"
fi
icd=$(ls /usr/share/vulkan/icd.d/*nvidia*.json /etc/vulkan/icd.d/*nvidia*.json \
  /usr/local/share/vulkan/icd.d/*nvidia*.json 2>/dev/null | head -1)
if [ -n "$icd" ]; then
  note "NVIDIA Vulkan driver manifest: $icd"
elif command -v nvidia-smi >/dev/null; then
  lib=""
  for candidate in libGLX_nvidia.so.0 libEGL_nvidia.so.0; do
    if ldconfig -p 2>/dev/null | grep -q "$candidate"; then lib=$candidate; break; fi
  done
  if [ -n "$lib" ]; then
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
      "$lib" >"$WORK/nvidia_icd.json"
    export VK_ICD_FILENAMES="$WORK/nvidia_icd.json" VK_DRIVER_FILES="$WORK/nvidia_icd.json"
    note "NVIDIA Vulkan driver manifest written for $lib (the machine had none)"
  else
    note "NVIDIA driver without its Vulkan part (no libGLX_nvidia.so.0 / libEGL_nvidia.so.0): webgpu will find no GPU adapter"
  fi
fi
if command -v nvidia-smi >/dev/null; then
  note "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader -i 0 2>&1)"
fi

export DENO_DIR="$WORK/deno_dir" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
DEVICE_KIT_SETUP=$(printf '%s; ' "${notes[@]}")
export DEVICE_KIT_SETUP="${DEVICE_KIT_SETUP%; }"
left=$((LIMIT - (SECONDS - START) - 15))
args=(run --out "$OUT" --kit "$WORK" --repo "$REPO" --deadline "$((left - 10))")
[ "$DRY" = 1 ] && args+=(--dry)
cd "$REPO" || exit 1
timeout -k 5 "$left" "$WORK/deno" run -A --cached-only --config "$WORK/deno.json" \
  "$WORK/check.js" "${args[@]}"
status=$?
if [ ! -f "$OUT/device.json" ]; then
  printf '{"error": "check.js ended with status %s before writing a result; see run.log"}\n' \
    "$status" >"$OUT/device.json"
fi
[ "$status" = 124 ] && echo "run.sh: the checks ran past ${left} s and were stopped; device.json has what finished"
echo "run.sh: done in $((SECONDS - START)) s (status $status); results in $OUT"
exit "$status"
