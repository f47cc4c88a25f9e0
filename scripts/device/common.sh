# Sourced by the device scripts: timestamps for the log and a report of the machine.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t_start=$(now_ms)
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%03d' $(( d / 1000 )) $(( d % 1000 )); }
stamp() { printf '\n=== [%s s] %s\n' "$(since "$t_start")" "$*"; }

report_machine() {
  stamp "machine"
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -1 || true
}

# The engine's CUDA build of the named targets, appended to the log $2 in build folder $1
# between two stamps; on failure the log's last 40 lines, and a non-zero status.
build_cuda_targets() {
  local build=$1 log=$2
  shift 2
  stamp "build: $*" >> "$log"
  if ! { cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
         ninja -C "$build" "$@"; } >> "$log" 2>&1; then
    tail -40 "$log"
    return 1
  fi
  stamp "built" >> "$log"
}

# Node from a carried folder ($1: node.xz, node-addon-api; see node_e2e.sh's header) on
# the PATH, node-addon-api where cmake-js's CMake lines look for it.
unpack_node() {
  local carry=$1
  stamp "unpack Node"
  mkdir -p /tmp/node/bin
  xz -dc "$carry/node.xz" > /tmp/node/bin/node && chmod +x /tmp/node/bin/node || return 1
  export PATH=/tmp/node/bin:$PATH
  node --version || return 1
  # The packed form (pack_node_carry.sh): headers, tokenizer and CLI in one archive.
  if [ -f "$carry/files.tar.xz" ]; then
    tar -C "$carry" -xJf "$carry/files.tar.xz" || return 1
    mkdir -p dist
    cp "$carry/cli.js" dist/cli.js || return 1
  fi
  mkdir -p node_modules
  [ -e node_modules/node-addon-api ] || ln -s "$carry/node-addon-api" node_modules/node-addon-api
  node -p "require('node-addon-api').include_dir" || return 1
}

# The engine, the Node addon and tramontane-logits with CMake directly (no npm, no
# network), from the repository root: $1 build folder, $2 the carried Node folder (its
# include/node), $3 the log. Exports TRAMONTANE_ADDON.
build_addon() {
  local build=$1 carry=$2 log=$3 b0 rc
  b0=$(date +%s)
  cmake -S native -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_JS_VERSION=8.0.0 -DCMAKE_JS_INC="$carry/include/node" > "$log" 2>&1 &&
    ninja -C "$build" tramontane_addon tramontane-logits >> "$log" 2>&1
  rc=$?
  grep -E "Tramontane:|CMAKE_JS|error|warning: " "$log" | head -20
  echo "build exit $rc, $(( $(date +%s) - b0 )) s"
  if [ $rc -ne 0 ]; then tail -60 "$log"; return 1; fi
  export TRAMONTANE_ADDON=$PWD/$build/Release/tramontane_addon.node
}

# The committed files llama.cpp quantized (test/fixtures/gguf), each copied into a folder of
# its own under $1, since the engine checks take model folders. Sets GGUF_FIXTURE_DIRS.
gguf_fixture_dirs() {
  local dest=$1 f d
  GGUF_FIXTURE_DIRS=()
  for f in test/fixtures/gguf/*.gguf; do
    d=$dest/$(basename "$f" .gguf)
    mkdir -p "$d" && cp "$f" "$d/" && GGUF_FIXTURE_DIRS+=("$d")
  done
}
