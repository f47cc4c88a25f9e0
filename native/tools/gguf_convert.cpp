// tramontane-gguf_convert MODEL_DIR OUT.gguf [TYPE]
// Writes a safetensors model (HF or Mistral's layout) as a llama-architecture GGUF file
// llama.cpp reads; TYPE is F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K,
// Q6_K, Q2_K, Q3_K, IQ4_NL or IQ4_XS (default F16). Matrices whose rows are not whole blocks fall back to Q8_0 / F16.
#include <cstdio>
#include <string>

#include "gguf_convert.h"
#include "tramontane/engine.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: tramontane-gguf_convert MODEL_DIR OUT.gguf [TYPE]\n");
    return 2;
  }
  const std::string name = argc == 4 ? argv[3] : "F16";
  using tramontane::StoredType;
  for (StoredType t : {StoredType::F32, StoredType::F16, StoredType::BF16, StoredType::Q8_0, StoredType::Q4_0, StoredType::Q4_1, StoredType::Q5_0,
                  StoredType::Q5_1, StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K, StoredType::Q2_K, StoredType::Q3_K, StoredType::IQ4_NL,
                  StoredType::IQ4_XS}) {
    if (name == tramontane::stored_type_name(t)) {
      try {
        tramontane::convert_to_gguf(argv[1], argv[2], t);
        return 0;
      } catch (const tramontane::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "error: unknown type %s\n", name.c_str());
  return 1;
}
