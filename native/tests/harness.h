// The small test runner shared by the test executables (each tests/*.cpp is its own
// program, so everything here is header-only): CHECK macros that count failures
// instead of aborting, so one run reports every broken check; TEST(name) registration;
// EXPECT_ERROR for the "one clear, one-line Error" contract; a TempDir; and run_all(),
// which main() returns: it prints "FAILED name" for each failing test and
// "N passed, M failed", and gives 1 when anything failed.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "tramontane/engine.h"

namespace harness {

// Failed checks so far; a test failed when it moved this.
inline int g_failures = 0;

inline void report_failure(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
  ++g_failures;
}

// For failures found by a test's own logic rather than a CHECK.
inline void report_failure(int line, const std::string& what) {
  std::fprintf(stderr, "  line %d: %s\n", line, what.c_str());
  ++g_failures;
}

struct TestCase {
  const char* name;
  void (*fn)();
};

// A function-local static, so registration from static initialisers is order-safe.
inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

// Runs body, which must throw tramontane::Error whose one-line message contains every
// needle.
template <class Body>
void expect_error(Body&& body, std::initializer_list<std::string> needles, int line) {
  try {
    body();
    std::string what = "expected an Error";
    const char* sep = " mentioning ";
    for (const std::string& needle : needles) {
      what += sep + ("\"" + needle + "\"");
      sep = ", ";
    }
    report_failure(line, what + ", none was thrown");
  } catch (const tramontane::Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles) {
      if (message.find(needle) == std::string::npos) {
        report_failure(line, "error \"" + message + "\" does not mention \"" + needle + "\"");
      }
    }
    if (message.find('\n') != std::string::npos) report_failure(line, "error is not one line: " + message);
  } catch (const std::exception& e) {
    report_failure(line, std::string("expected tramontane::Error, got: ") + e.what());
  }
}

// A kB figure of this process's /proc/self/status ("VmRSS:", "VmHWM:", "RssAnon:"), -1
// when absent.
inline long status_kb(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + key.size());
  }
  return -1;
}

// A file's bytes ("" when it cannot be read), and bytes written to a file.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A tokenizer.json of SentencePiece's BPE kind with no merges: the control tokens
// <unk> <s> </s> (0, 1, 2), then `vocab_entries` ("\"a\": 3, \"ab\": 4", JSON-escaped),
// a dummy-prefix "▁" normalizer and the matching decoder.
inline std::string bpe_tokenizer_json(const std::string& vocab_entries) {
  return "{\"version\": \"1.0\", \"added_tokens\": ["
         "{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
         "{\"id\": 1, \"content\": \"<s>\", \"special\": true},"
         "{\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
         "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u2581\"},"
         " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u2581\"}]},"
         "\"pre_tokenizer\": null,"
         "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\u2581\"}, \"content\": \" \"},"
         " {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
         "\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": false,"
         " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, " + vocab_entries + "}, \"merges\": []}}";
}

// A path in the repository, found from this header's own path (native/tests/harness.h),
// so a test finds its fixtures from any working directory.
inline std::string repo_path(const std::string& relative) {
  std::string here = __FILE__;
  for (int i = 0; i < 3; ++i) here = here.substr(0, here.find_last_of('/'));
  return here + "/" + relative;
}

// A fresh directory under /tmp, removed with everything in it when it goes out of scope.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tramontane-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { remove_all(path); }

  std::string file(const std::string& name) const { return path + "/" + name; }
  // Writes bytes to name inside the directory; returns the file's path.
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = file(name);
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    return p;
  }
  // lstat, not stat: a symlink to a directory is unlinked, never followed.
  static void remove_all(const std::string& dir) {
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        std::string p = dir + "/" + name;
        struct stat st;
        if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) remove_all(p);
        else ::unlink(p.c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir.c_str());
  }
};

// Runs every registered test; main() returns this.
inline int run_all() {
  int passed = 0, failed = 0;
  for (const TestCase& t : registry()) {
    const int before = g_failures;
    try {
      t.fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
      ++g_failures;
    }
    if (g_failures == before) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAILED %s\n", t.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace harness

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) ::harness::report_failure(__FILE__, __LINE__, "CHECK failed: " #cond); \
  } while (0)

// CHECK with a printf-style explanation printed on failure.
#define CHECK_MSG(cond, ...)                                                         \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                             \
      std::fprintf(stderr, "\n");                                                    \
      ++::harness::g_failures;                                                       \
    }                                                                                \
  } while (0)

// a == b, printing both sides on failure; the including file provides show(x) for the
// compared types.
#define CHECK_EQ(a, b)                                                                      \
  do {                                                                                      \
    const auto& a_ = (a);                                                                   \
    const auto& b_ = (b);                                                                   \
    if (!(a_ == b_)) {                                                                      \
      ::harness::report_failure(__FILE__, __LINE__,                                         \
                                std::string("CHECK failed: " #a " == " #b ": ") + show(a_) + \
                                    " vs " + show(b_));                                     \
    }                                                                                       \
  } while (0)

#define TEST(name)                                         \
  static void name();                                      \
  static ::harness::Register harness_register_##name(#name, name); \
  static void name()

// EXPECT_ERROR(body, needle...): body must throw a one-line tramontane::Error that
// mentions every needle.
#define EXPECT_ERROR(body, ...) ::harness::expect_error([&] { body; }, {__VA_ARGS__}, __LINE__)
