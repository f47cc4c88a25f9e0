// tramontane-tokenizer_bench: how long encoding 32 KB of source code takes.
//
//   tramontane-tokenizer_bench --tokenizer PATH_OR_DIR [--file F ...] [--bytes N] [--runs N]
//
// The input is N bytes (default 32768) cut from the given files, repeated as
// needed; without --file, from the source files under test/fixtures/corpus (run it
// from the repository root). Prints the median of many runs, not one lucky one.
#include <dirent.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of this thread: unlike wall time, not inflated when other processes
// take the core.
double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw tramontane::Error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> corpus_files(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  if (!d) return files;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name[0] == '.' || name == "SOURCES.md" || name.rfind("edge-", 0) == 0) continue;
    files.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  return files;
}

struct Stats {
  double median, min, p90;
};

Stats summarize(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front(), times[times.size() * 9 / 10]};
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path;
  std::vector<std::string> files;
  size_t bytes = 32768;
  int runs = 300;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--tokenizer") tokenizer_path = argv[++i];
    else if (i + 1 < argc && arg == "--file") files.push_back(argv[++i]);
    else if (i + 1 < argc && arg == "--bytes") bytes = std::strtoul(argv[++i], nullptr, 10);
    else if (i + 1 < argc && arg == "--runs") runs = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: tramontane-tokenizer_bench --tokenizer PATH_OR_DIR [--file F ...] [--bytes N] [--runs N]\n");
      return 2;
    }
  }
  if (tokenizer_path.empty() || bytes == 0) {
    std::fprintf(stderr, "usage: tramontane-tokenizer_bench --tokenizer PATH_OR_DIR [--file F ...] [--bytes N] [--runs N]\n");
    return 2;
  }

  try {
    if (files.empty()) files = corpus_files("test/fixtures/corpus");
    if (files.empty()) throw tramontane::Error("no input: pass --file or run from the repository root");
    std::string source;
    for (const std::string& f : files) source += read_file(f);
    std::string text;
    while (text.size() < bytes) text += source;
    size_t cut = bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole characters
    text.resize(cut);

    // The tokenizer keeps per-thread caches (the words it has merged, the pairs it
    // has looked up), so three cases:
    //   first: the first text a freshly loaded tokenizer sees (caches empty);
    //   new:   a text it has not seen, after others from the same code (a new file
    //          of the same project: 32 KB slices at ever different offsets);
    //   same:  the same text again (the prompt re-tokenized after a keystroke).
    const size_t step = 4099;  // slice offsets walk through the source
    std::string source_twice = source + source;
    auto slice = [&](int i) {
      size_t at = (static_cast<size_t>(i) * step) % source.size();
      while (at > 0 && (static_cast<unsigned char>(source_twice[at]) & 0xC0) == 0x80) --at;
      std::string s = source_twice.substr(at, text.size());
      size_t cut = s.size();
      while (cut > 0 && cut < source_twice.size() - at && (static_cast<unsigned char>(source_twice[at + cut]) & 0xC0) == 0x80) --cut;
      s.resize(cut);
      return s;
    };

    std::vector<double> first_times, first_cpu, load_times;
    std::unique_ptr<tramontane::Tokenizer> tokenizer;
    std::vector<int> ids;
    const int loads = std::max(3, std::min(runs / 20, 15));
    for (int i = 0; i < loads; ++i) {
      auto start = Clock::now();
      tokenizer = tramontane::Tokenizer::load(tokenizer_path);
      load_times.push_back(ms_since(start));
      start = Clock::now();
      const double cpu_start = thread_cpu_ms();
      ids = tokenizer->encode(text);
      first_cpu.push_back(thread_cpu_ms() - cpu_start);
      first_times.push_back(ms_since(start));
    }

    std::vector<double> new_times, new_cpu;
    size_t new_bytes = 0, new_tokens = 0;
    for (int i = 0; i < runs; ++i) {
      const std::string fresh = slice(i + 1);
      new_bytes += fresh.size();
      const auto start = Clock::now();
      const double cpu_start = thread_cpu_ms();
      new_tokens += tokenizer->encode(fresh).size();
      new_cpu.push_back(thread_cpu_ms() - cpu_start);
      new_times.push_back(ms_since(start));
    }

    std::vector<double> same_times, same_cpu, decode_times;
    size_t checksum = 0;
    for (int i = 0; i < runs; ++i) {
      auto start = Clock::now();
      const double cpu_start = thread_cpu_ms();
      ids = tokenizer->encode(text);
      same_cpu.push_back(thread_cpu_ms() - cpu_start);
      same_times.push_back(ms_since(start));
      start = Clock::now();
      const std::string decoded = tokenizer->decode(ids);
      decode_times.push_back(ms_since(start));
      checksum += decoded.size() + ids.size();
    }

    const double scale = 32768.0 / static_cast<double>(text.size());
    const Stats load = summarize(load_times);
    std::printf("tokenizer   %s (%d tokens, loaded in %.1f ms)\n", tokenizer_path.c_str(), tokenizer->vocab_size(), load.median);
    std::printf("input       %zu bytes from %zu files -> %zu tokens (%.2f bytes/token)\n", text.size(), files.size(),
                ids.size(), static_cast<double>(text.size()) / ids.size());
    auto report = [&](const char* name, const std::vector<double>& wall, const std::vector<double>& cpu, int n) {
      const Stats w = summarize(wall), c = summarize(cpu);
      std::printf("%-11s median %.3f ms (min %.3f, p90 %.3f), thread CPU median %.3f ms, %d runs\n", name, w.median * scale,
                  w.min * scale, w.p90 * scale, c.median * scale, n);
    };
    std::printf("encode, per 32 KB:\n");
    report("  first", first_times, first_cpu, loads);
    report("  new text", new_times, new_cpu, runs);
    report("  same text", same_times, same_cpu, runs);
    const Stats dec = summarize(decode_times);
    std::printf("decode      median %.3f ms per 32 KB\n", dec.median * scale);
    std::printf("(new text: %.2f bytes/token; thread CPU time is what a busy machine does not inflate)\n",
                static_cast<double>(new_bytes) / new_tokens);
    std::printf("ms per 32 KB: first %.3f, new text %.3f, same text %.3f\n", summarize(first_times).median * scale,
                summarize(new_times).median * scale, summarize(same_times).median * scale);
    if (checksum == 0) std::printf("\n");  // keeps the work observable
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tramontane-tokenizer_bench: %s\n", e.what());
    return 1;
  }
}
