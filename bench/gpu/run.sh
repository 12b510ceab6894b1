#!/usr/bin/env bash
# The GPU run: synthetic checkpoint → seggpt convert (fp32, fp16, q4f16) → onnxruntime-node WebGPU and CPU rows →
# PyTorch CUDA anchor (where python has torch) → one table, results.json and results.md. See bench/gpu/README.md.
#
#   bash bench/gpu/run.sh [--size full|tiny] [--runs N] [--cpu-runs N] [--out DIR] [--deadline-s S] [--swiftshader] [--keep]
#
# With bench/gpu/carry/ (bash bench/gpu/pack.sh) it unpacks Node, the built project and its node_modules into /tmp and
# runs from there (the GPU machine has no Node and no network); without it, it runs this checkout's `node` and dist/
# (npm run build first). Everything it prints is also written to <out>/run.log.
#
# Env: SEGGPT_GPU_SIZE, SEGGPT_GPU_DEADLINE_S (default 540: the table is out before a 600 s limit), SEGGPT_GPU_CARRY,
#      SEGGPT_GPU_RUNTIME (unpack folder, default /tmp/seggpt-gpu-runtime), SEGGPT_PYTHON (default python3), OUT.
set -uo pipefail

START_MS=$(date +%s%3N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

SIZE=${SEGGPT_GPU_SIZE:-full}
DEADLINE_S=${SEGGPT_GPU_DEADLINE_S:-540}
OUT_DIR=${OUT:-$ROOT/bench/gpu/results}
CARRY=${SEGGPT_GPU_CARRY:-$ROOT/bench/gpu/carry}
RUNTIME=${SEGGPT_GPU_RUNTIME:-/tmp/seggpt-gpu-runtime}
SWIFTSHADER=0
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --size) SIZE=$2; shift 2 ;;
    --size=*) SIZE=${1#*=}; shift ;;
    --out) OUT_DIR=$2; shift 2 ;;
    --deadline-s) DEADLINE_S=$2; shift 2 ;;
    --swiftshader) SWIFTSHADER=1; shift ;;
    --runs | --cpu-runs) EXTRA+=("$1" "$2"); shift 2 ;;
    --keep) EXTRA+=(--keep); shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $SIZE in full | tiny) ;; *) echo "run.sh: --size must be full or tiny" >&2; exit 2 ;; esac
mkdir -p "$OUT_DIR"
LOG=$OUT_DIR/run.log
exec > >(tee "$LOG") 2>&1

say() { printf '[run.sh %3d s] %s\n' $((($(date +%s%3N) - START_MS) / 1000)) "$*"; }

# --- Node and the built project -------------------------------------------------------------------------------------
if [ -f "$CARRY/SHA256SUMS" ]; then
  stamp=$(sha256sum "$CARRY/SHA256SUMS" | cut -c1-16)
  if [ -f "$RUNTIME/.stamp" ] && [ "$(cat "$RUNTIME/.stamp")" = "$stamp" ]; then
    say "runtime already unpacked in $RUNTIME"
  else
    say "checking and unpacking $CARRY into $RUNTIME …"
    (cd "$CARRY" && sha256sum -c --quiet SHA256SUMS) || { say "error: $CARRY does not match its SHA256SUMS: pack again"; exit 1; }
    rm -rf "$RUNTIME"
    mkdir -p "$RUNTIME"
    for archive in "$CARRY"/*.tar.xz; do
      if command -v xz >/dev/null; then
        tar -C "$RUNTIME" -xJf "$archive" || exit 1
      else
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$archive" "$RUNTIME" || exit 1
      fi
    done
    echo "$stamp" >"$RUNTIME/.stamp"
    say "unpacked ($(du -sh "$RUNTIME" | cut -f1))"
  fi
  NODE=$RUNTIME/node/bin/node
  APP=$RUNTIME/app
  VK_LIBS=$RUNTIME/vulkan-libs
else
  NODE=$(command -v node) || { say "error: no node here and no $CARRY (bash bench/gpu/pack.sh makes it)"; exit 1; }
  APP=$ROOT
  VK_LIBS=
  [ -f "$APP/dist/bench/gpu/main.js" ] || { say "error: $APP/dist/bench/gpu/main.js is missing: npm run build"; exit 1; }
fi

# --- Vulkan (Dawn, inside onnxruntime-node's WebGPU provider, runs on it) -------------------------------------------
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=/tmp/seggpt-gpu-xdg-$(id -u)
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
if [ "$SWIFTSHADER" = 1 ]; then
  icd=$(find /usr/lib /usr/lib64 /usr/share /opt -name vk_swiftshader_icd.json 2>/dev/null | head -1)
  [ -n "$icd" ] || { say "error: --swiftshader: no vk_swiftshader_icd.json (apt-get install chromium libvulkan1)"; exit 1; }
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
elif [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  # The GPU machine mounts the NVIDIA driver under /usr/local/nvidia, outside the loader's default search path.
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd; break; fi
  done
fi
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$d" ] && case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d ;; esac
done
if [ -n "$VK_LIBS" ] && [ -d "$VK_LIBS" ]; then
  # Only the libraries the machine lacks, after everything else on the path: the system's own copies win.
  missing_dir=$RUNTIME/vulkan-missing
  rm -rf "$missing_dir"
  mkdir -p "$missing_dir"
  have_lib() {
    ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 " && return 0
    local d
    IFS=: read -ra dirs <<<"${LD_LIBRARY_PATH:-}"
    for d in ${dirs[@]+"${dirs[@]}"}; do [ -n "$d" ] && [ -e "$d/$1" ] && return 0; done
    return 1
  }
  for lib in "$VK_LIBS"/*; do
    name=$(basename "$lib")
    if ! have_lib "$name"; then cp "$lib" "$missing_dir/" && say "using the packed $name (the machine has none)"; fi
  done
  [ -n "$(ls -A "$missing_dir")" ] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$missing_dir
fi

say "size $SIZE, deadline ${DEADLINE_S} s, out $OUT_DIR"
say "node $("$NODE" --version) from $NODE; app $APP"
say "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'none visible (no nvidia-smi)')"
say "Vulkan: VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset} VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
[ -n "${VK_ICD_FILENAMES:-}" ] && [ -f "$VK_ICD_FILENAMES" ] && say "  ICD: $(tr -d '\n ' <"$VK_ICD_FILENAMES" | cut -c1-200)"
say "  ldconfig: $(ldconfig -p 2>/dev/null | grep -oE '^\s*(libvulkan\.so\.1|libGLdispatch\.so\.0|libGLX_nvidia\.so\.0) ' | tr -d ' \t' | sort -u | tr '\n' ' ')"
say "  LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
say "python: $(${SEGGPT_PYTHON:-python3} -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none)"

deadline_ms=$((START_MS + DEADLINE_S * 1000))
remaining=$(((deadline_ms - $(date +%s%3N)) / 1000))
# main.js keeps to the deadline by itself; `timeout` is the backstop (SIGTERM: it prints what it has, then exits).
backstop=()
command -v timeout >/dev/null && backstop=(timeout -k 10 $((remaining + 20)))
${backstop[@]+"${backstop[@]}"} "$NODE" "$APP/dist/bench/gpu/main.js" --size "$SIZE" --out "$OUT_DIR" --deadline "$deadline_ms" \
  --tiny-config "$ROOT/bench/gpu/tiny_config.json" --torch-script "$ROOT/bench/gpu/torch_anchor.py" ${SEGGPT_PYTHON:+--python "$SEGGPT_PYTHON"} ${EXTRA[@]+"${EXTRA[@]}"}
status=$?
say "done (exit $status) in $((($(date +%s%3N) - START_MS) / 1000)) s: $OUT_DIR/results.md, results.json, run.log"
exit $status
