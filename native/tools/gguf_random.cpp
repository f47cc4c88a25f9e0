// tramontane-gguf_random --shape mistral-7b|mixtral-8x7b|tiny-mixtral|tiny-llama
//                        --type Q4_K_M|Q8_0|F16 --tokenizer PATH/tokenizer.model OUT.gguf
//                        [--layers N] [--seed S] [--threads T]
// Writes a model of that shape with random weights straight to a GGUF file, in the
// layout, names and metadata llama.cpp's converter gives the llama architecture, so that
// llama.cpp and this engine can be timed on the same file (engine/gguf_random.h). The
// file is streamed tensor by tensor: memory stays far below its size. Every kind of
// matrix reuses one pool of 4096 quantized random rows (each tensor from its own start
// row); each layer's router has values of its own, so tokens spread over the experts.
// Q4_K_M gives each tensor the type llama-quantize gives it (engine/quant_mix.h).
#include <chrono>
#include <cstdio>
#include <string>

#include "flags.h"
#include "gguf_random.h"
#include "tramontane/engine.h"

int main(int argc, char** argv) {
  using tramontane::tools::parse_int;
  tramontane::RandomModel m;
  std::string out;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw tramontane::Error(a + " expects a value");
        return argv[++i];
      };
      if (a == "--shape") m.shape = value();
      else if (a == "--type") m.file_type = value();
      else if (a == "--tokenizer") m.tokenizer = value();
      else if (a == "--layers") m.layers = parse_int(a, value(), 1, 1024);
      else if (a == "--seed") m.seed = uint64_t(parse_int(a, value(), 0, 2147483647));
      else if (a == "--threads") m.threads = parse_int(a, value(), 1, 1024);
      else if (a.rfind("--", 0) == 0) throw tramontane::Error("unknown flag " + a);
      else if (out.empty()) out = a;
      else throw tramontane::Error("one output file expected, got " + out + " and " + a);
    }
    if (m.shape.empty() || m.file_type.empty() || m.tokenizer.empty() || out.empty()) {
      std::fprintf(stderr,
                   "usage: tramontane-gguf_random --shape mistral-7b|mixtral-8x7b|tiny-mixtral|tiny-llama "
                   "--type Q4_K_M|Q8_0|F16 --tokenizer PATH/tokenizer.model OUT.gguf [--layers N] [--seed S] "
                   "[--threads T]\n");
      return 2;
    }
    const auto t0 = std::chrono::steady_clock::now();
    tramontane::write_random_gguf(m, out);
    std::printf("wrote %s (%s, %s) in %.1f s\n", out.c_str(), m.shape.c_str(), m.file_type.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
  } catch (const tramontane::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
