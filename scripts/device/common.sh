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

# Node from a carried folder ($1: node.xz, node-addon-api; see node_e2e.sh's header) on
# the PATH, node-addon-api where cmake-js's CMake lines look for it.
unpack_node() {
  local carry=$1
  stamp "unpack Node"
  mkdir -p /tmp/node/bin
  xz -dc "$carry/node.xz" > /tmp/node/bin/node && chmod +x /tmp/node/bin/node || return 1
  export PATH=/tmp/node/bin:$PATH
  node --version || return 1
  mkdir -p node_modules
  [ -e node_modules/node-addon-api ] || ln -s "$carry/node-addon-api" node_modules/node-addon-api
  node -p "require('node-addon-api').include_dir" || return 1
}
