#include "mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "tramontane/engine.h"

namespace tramontane {
namespace {

// The handler's view of the live mappings: plain atomics, no allocation, no locks.
// Slots are claimed and released under g_mutex; the handler only reads them.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};  // 0: free
  std::atomic<bool> faulted{false};
  const MappedFile* owner = nullptr;  // under g_mutex
};
constexpr int kSlots = 256;  // model files mapped at once (a sharded 70B model has 30)
std::array<Slot, kSlots> g_slots;
std::mutex g_mutex;
struct sigaction g_previous;
bool g_installed = false;  // under g_mutex
uintptr_t g_page = 4096;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    if (addr >= slot.begin.load() && addr < slot.end.load()) {
      // mmap is a plain system call on Linux, safe here though POSIX does not list it.
      void* page = reinterpret_cast<void*>(addr & ~(g_page - 1));
      void* p = ::mmap(page, g_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (p == MAP_FAILED) break;
      slot.faulted.store(true);
      return;  // the faulting read runs again and finds zeros
    }
  }
  // Not ours: what would have happened without us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) return g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    return g_previous.sa_handler(sig);
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

void install_handler() {
  if (g_installed) return;
  g_page = uintptr_t(::sysconf(_SC_PAGESIZE));
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGBUS, &action, &g_previous) == 0) g_installed = true;
}

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error("cannot read " + path + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  mtime_ns_ = mtime_ns(st);
  if (size_ == 0) return;
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd_);
    throw Error("cannot map " + path + ": " + std::strerror(err));
  }
  data_ = static_cast<const uint8_t*>(p);

  std::lock_guard<std::mutex> lock(g_mutex);
  install_handler();
  for (int i = 0; i < kSlots && slot_ < 0; ++i) {
    Slot& s = g_slots[i];
    if (s.owner) continue;
    s.owner = this;
    s.faulted.store(false);
    s.begin.store(reinterpret_cast<uintptr_t>(data_));
    s.end.store(reinterpret_cast<uintptr_t>(data_) + size_);
    slot_ = i;
  }
  // With every slot taken the file is still usable, only without the SIGBUS guard.
}

MappedFile::~MappedFile() {
  if (slot_ >= 0) {
    std::lock_guard<std::mutex> lock(g_mutex);
    Slot& s = g_slots[slot_];
    s.end.store(0);
    s.begin.store(0);
    s.owner = nullptr;
  }
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

bool MappedFile::changed() const {
  if (slot_ >= 0 && g_slots[slot_].faulted.load()) return true;
  struct stat st;
  if (::fstat(fd_, &st) != 0) return true;
  return size_t(st.st_size) != size_ || mtime_ns(st) != mtime_ns_;
}

void MappedFile::throw_if_any_changed() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const Slot& s : g_slots) {
    if (s.owner && s.owner->changed()) {
      throw Error("model file " + s.owner->path_ +
                  " changed on disk while in use (truncated or rewritten): reload the model");
    }
  }
}

}  // namespace tramontane
