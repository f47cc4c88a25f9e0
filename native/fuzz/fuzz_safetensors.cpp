// libFuzzer target: a .safetensors file (header length, JSON header, tensor table,
// data offsets). The loader maps a path, so each input is written to an anonymous
// in-memory file and opened through /proc/self/fd: the real mmap path runs, nothing
// touches the disk. Any Error is a clean refusal; a crash or sanitizer report is a bug.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "safetensors.h"
#include "tramontane/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) std::abort();
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    tramontane::SafetensorsFile file(path);
    // Read every byte of every tensor the loader accepted: a view past the mapping
    // shows here as a sanitizer report or a fault.
    uint64_t sum = 0;
    for (const tramontane::TensorView& t : file.tensors()) {
      const auto* bytes = static_cast<const uint8_t*>(t.data);
      for (size_t i = 0; i < t.nbytes; ++i) sum += bytes[i];
      if (file.find(t.name) != &t) std::abort();
    }
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const tramontane::Error&) {
  }
  return 0;
}
