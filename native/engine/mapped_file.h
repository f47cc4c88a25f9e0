// A read-only memory mapping of a whole model file, and what happens when that file
// changes on disk while it is mapped.
//
// Truncating a mapped file (a download restarted, a copy interrupted, `git lfs pull`
// rewriting in place) makes every later read of a page past the new end raise SIGBUS,
// which kills the process. Instead:
//   - one SIGBUS handler, installed with the first mapping, looks the faulting address
//     up among the live mappings (a fixed table it reads without locks). Inside one, it
//     maps a page of zeros over the faulting page (MAP_FIXED, anonymous) and marks the
//     mapping changed; the faulting instruction then reads zeros and the forward pass
//     runs to its end on garbage that is never shown. Any other SIGBUS goes to the
//     handler installed before ours, or kills the process as it would have.
//   - rewriting the file in place (same or other size) raises no signal: its size and
//     modification time, kept from load, are compared with the file's, through the
//     descriptor the mapping keeps open.
//   - MappedFile::throw_if_any_changed(), called after each forward, turns either into
//     one line: "model file … changed on disk while in use …: reload the model".
// A file replaced by rename (the usual way tools write) is not changed for us: the
// mapping keeps the old file alive and stays valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tramontane {

class MappedFile {
 public:
  // Throws a one-line Error when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // True once a read hit a page the file no longer has, or the file's size or
  // modification time differ from when it was mapped.
  bool changed() const;

  // Throws Error naming the first mapped file (of any model in the process) that
  // changed; the engine calls it after each forward pass.
  static void throw_if_any_changed();

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  int slot_ = -1;  // index in the handler's table, -1 for an empty file
  int64_t mtime_ns_ = 0;
};

}  // namespace tramontane
