// tramontane-logits --model DIR --tokens 1,2,3 [--chunk N] [--slack N] [--context N]
//                   [--threads N] [--backend auto|cpu|cuda]
// Runs the tokens through the model and prints {"logits": [[...], ...]}: one row of
// vocab_size floats per input position, each printed so that it reads back exactly.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flags.h"
#include "tramontane/engine.h"

using tramontane::Error;
using tramontane::tools::parse_backend;
using tramontane::tools::parse_int;

namespace {

std::vector<int> parse_tokens(const std::string& text) {
  std::vector<int> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    ids.push_back(parse_int("--tokens", text.substr(start, comma - start), 0, 1L << 30));
    start = comma + 1;
  }
  return ids;
}

void print_float(std::string& out, float x) {
  if (!std::isfinite(x)) {
    out += "null";  // JSON has no NaN or infinity
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", double(x));
  out += buf;
}

int run(int argc, char** argv) {
  std::string model_dir, tokens_text;
  tramontane::LoadOptions load;
  tramontane::SessionOptions session_options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) throw Error(flag + " needs a value (usage: --model DIR --tokens 1,2,3)");
    std::string value = argv[++i];
    if (flag == "--model") model_dir = value;
    else if (flag == "--tokens") tokens_text = value;
    else if (flag == "--chunk") session_options.chunk = parse_int(flag, value, 1, 1 << 16);
    else if (flag == "--slack") session_options.slack = parse_int(flag, value, 0, 1 << 24);
    else if (flag == "--context") session_options.context = parse_int(flag, value, 0, 1 << 24);
    else if (flag == "--threads") load.threads = parse_int(flag, value, 0, 1024);
    else if (flag == "--backend") load.backend = parse_backend(value);
    else throw Error("unknown option " + flag);
  }
  if (model_dir.empty()) throw Error("--model DIR is required");
  if (tokens_text.empty()) throw Error("--tokens 1,2,3 is required");
  std::vector<int> tokens = parse_tokens(tokens_text);

  auto model = tramontane::Model::load(model_dir, load);
  auto session = model->new_session(session_options);
  const size_t vocab = size_t(model->config().vocab_size);
  std::vector<float> logits(tokens.size() * vocab);
  session->feed(tokens.data(), tokens.size(), logits.data());

  std::string out = "{\"logits\": [";
  out.reserve(logits.size() * 16);
  for (size_t t = 0; t < tokens.size(); ++t) {
    out += t ? ",\n[" : "\n[";
    for (size_t v = 0; v < vocab; ++v) {
      if (v) out += ", ";
      print_float(out, logits[t * vocab + v]);
    }
    out += "]";
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tramontane-logits: out of memory\n");
  } catch (const std::exception& e) {
    // The engine's GPU memory line has the numbers; this tool's ways out follow it.
    const bool gpu_full = std::strstr(e.what(), "not enough GPU memory") != nullptr;
    std::fprintf(stderr, "tramontane-logits: %s%s\n", e.what(),
                 gpu_full ? "; use a quantized model file, or the CPU (--backend cpu)" : "");
  }
  return 1;
}
