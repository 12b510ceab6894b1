#!/usr/bin/env bash
# Packs everything the GPU run (bench/gpu/run.sh) needs beyond the GPU machine's own software into bench/gpu/carry/
# (git-ignored), as xz archives with a checksum list:
#
#   node.tar.xz          this machine's Node binary ($(command -v node)), stripped of its symbol table
#   app.tar.xz           a fresh build of the project (tsc -p tsconfig.build.json into a private folder: dist/ here is
#                        left alone), its package.json, and the run-time node_modules pieces: onnxruntime-node (linux-x64
#                        native library, which holds the WebGPU provider), onnxruntime-common, @huggingface/transformers
#                        (its Node bundle), @huggingface/hub and its dependencies (imported by the converter), and a
#                        stub for sharp (an image decoder Transformers.js imports at load; the run feeds pixel buffers)
#   vulkan-libs.tar.xz   libvulkan.so.1 and libGLdispatch.so.0 from this machine, put on LD_LIBRARY_PATH by run.sh only
#                        where the GPU machine's ldconfig has none (the NVIDIA Vulkan driver needs both)
#   SHA256SUMS
#
# Usage: bash bench/gpu/pack.sh            (about 2-3 minutes on 2 cores: most of it is xz on the Node binary)
# Env:   CARRY=<folder> (default bench/gpu/carry), LIMIT_MIB=<n> (default 60: what may travel beside the working tree)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARRY=${CARRY:-$ROOT/bench/gpu/carry}
LIMIT_MIB=${LIMIT_MIB:-60}
# The device tool moves at most 64 MiB per call: the working tree (tracked and untracked-not-ignored files) plus carry.
DEVICE_LIMIT_MIB=64
NM=$ROOT/node_modules
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/seggpt-gpu-pack.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

say() { printf '[pack] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || die "packs Linux x86-64 binaries only (the GPU machine is x86-64); this is $(uname -s)-$(uname -m)"
NODE_BIN=$(command -v node) || die "node not found"
[ -d "$NM/onnxruntime-node" ] || die "node_modules is missing: run npm ci first"
ORT_LIB_DIR=$NM/onnxruntime-node/bin/napi-v6/linux/x64
[ -f "$ORT_LIB_DIR/libonnxruntime.so.1" ] || die "$ORT_LIB_DIR/libonnxruntime.so.1 is missing"
command -v xz >/dev/null || die "xz not found (apt-get install xz-utils)"
XZ="xz -9 -T0"

# 1. Node.
say "node: $NODE_BIN ($("$NODE_BIN" --version))"
mkdir -p "$STAGE/node/node/bin"
cp "$NODE_BIN" "$STAGE/node/node/bin/node"
if command -v strip >/dev/null; then strip "$STAGE/node/node/bin/node"; fi
"$STAGE/node/node/bin/node" -e 'process.exit(0)' || die "the stripped node binary does not start"

# 2. The app: a private build, package.json, node_modules pieces.
APP=$STAGE/app/app
mkdir -p "$APP/node_modules"
say "building (tsc -p tsconfig.build.json) into the pack, dist/ untouched …"
if ! (cd "$ROOT" && "$NM/.bin/tsc" -p tsconfig.build.json --outDir "$APP/dist" >"$STAGE/tsc.log" 2>&1); then
  # tsc still emits on type errors; the run only needs the JavaScript. Say so loudly.
  say "warning: tsc reported errors (JavaScript emitted anyway):"
  head -20 "$STAGE/tsc.log" >&2
fi
[ -f "$APP/dist/bench/gpu/main.js" ] && [ -f "$APP/dist/cli/seggpt.js" ] || die "the build did not produce dist/bench/gpu/main.js and dist/cli/seggpt.js"
find "$APP/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
cp "$ROOT/package.json" "$APP/package.json"

copy_module() { # copy_module <name> <paths inside it…>
  local name=$1
  shift
  [ -d "$NM/$name" ] || die "node_modules/$name is missing"
  for part in "$@"; do
    mkdir -p "$APP/node_modules/$name/$(dirname "$part")"
    cp -a "$NM/$name/$part" "$APP/node_modules/$name/$part"
  done
}
copy_module onnxruntime-node package.json dist bin/napi-v6/linux/x64
copy_module onnxruntime-common package.json dist
copy_module @huggingface/transformers package.json dist/transformers.node.mjs
# @huggingface/hub and its dependencies, all pure JavaScript (their dist/ folders).
for m in @huggingface/hub @huggingface/tasks @huggingface/xetchunk-wasm @huggingface/blake3-jit gearhash-jit; do
  copy_module "$m" package.json dist
done
find "$APP/node_modules" \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete
mkdir -p "$APP/node_modules/sharp"
cat >"$APP/node_modules/sharp/package.json" <<'EOF'
{ "name": "sharp", "version": "0.0.0-seggpt-gpu-stub", "main": "index.js", "description": "Stub packed by bench/gpu/pack.sh: the GPU run decodes no image files" }
EOF
cat >"$APP/node_modules/sharp/index.js" <<'EOF'
'use strict';
module.exports = function sharp() {
  throw new Error('sharp is not packed for the GPU run (bench/gpu/pack.sh): pass pixel buffers, not image files');
};
EOF

# 3. Vulkan loader and libglvnd's dispatcher, for a GPU machine that has neither.
mkdir -p "$STAGE/vulkan/vulkan-libs"
for lib in libvulkan.so.1 libGLdispatch.so.0; do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }')
  if [ -n "$path" ]; then
    cp -L "$path" "$STAGE/vulkan/vulkan-libs/$lib"
  else
    say "warning: $lib not found here (apt-get install libvulkan1 libglvnd0); the GPU machine must have it"
  fi
done

# 4. Archives.
rm -rf "$CARRY"
mkdir -p "$CARRY"
say "compressing (xz -9) …"
tar -C "$STAGE/node" -cf - node | $XZ >"$CARRY/node.tar.xz" &
tar -C "$STAGE/app" -cf - app | $XZ >"$CARRY/app.tar.xz" &
tar -C "$STAGE/vulkan" -cf - vulkan-libs | $XZ >"$CARRY/vulkan-libs.tar.xz" &
wait
(cd "$CARRY" && sha256sum ./*.tar.xz >SHA256SUMS)
cat >"$CARRY/README.txt" <<EOF
Packed by bench/gpu/pack.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'a checkout')$(cd "$ROOT" && git diff --quiet 2>/dev/null || echo ' with uncommitted changes').
Node $("$NODE_BIN" --version); onnxruntime-node $(node -p "require('$NM/onnxruntime-node/package.json').version"); @huggingface/transformers $(node -p "require('$NM/@huggingface/transformers/package.json').version").
Unpacked and run by bench/gpu/run.sh. Not committed (bench/gpu/.gitignore).
EOF

# 5. Sizes.
carry_bytes=$(du -cb "$CARRY"/* | tail -1 | cut -f1)
tree_bytes=$(cd "$ROOT" && { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" { s += $1 } END { print s + 0 }')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
for f in "$CARRY"/*; do say "  $(basename "$f"): $(mib "$(stat -c %s "$f")") MiB"; done
say "carry: $(mib "$carry_bytes") MiB (limit $LIMIT_MIB MiB); working tree: $(mib "$tree_bytes") MiB; together $(mib $((carry_bytes + tree_bytes))) MiB of the device tool's $DEVICE_LIMIT_MIB MiB"
[ "$carry_bytes" -le $((LIMIT_MIB * 1048576)) ] || die "carry is over $LIMIT_MIB MiB"
[ $((carry_bytes + tree_bytes)) -le $((DEVICE_LIMIT_MIB * 1048576)) ] || die "carry + working tree exceed the device tool's $DEVICE_LIMIT_MIB MiB: ignore or move large untracked files"
say "done: $CARRY"
