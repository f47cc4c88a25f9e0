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
