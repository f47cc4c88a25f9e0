#include "gguf_source.h"

#include <cstdint>

namespace tramontane {

GgufSource::GgufSource(std::unique_ptr<gguf::File> file) : file_(std::move(file)) {
  for (const gguf::Tensor& t : file_->tensors()) {
    const std::optional<StoredType> type = gguf::engine_type(t.type);
    if (!type) continue;  // refused by find(), only if the model needs it
    if (!is_quantized(*type) && reinterpret_cast<uintptr_t>(t.data) % block_bytes(*type) != 0) {
      file_->fail("tensor " + t.name + ": data is not aligned to its " + stored_type_name(*type) +
                  " elements");
    }
    TensorView view;
    view.name = t.name;
    view.type = *type;
    view.shape = t.shape();
    view.data = t.data;
    view.nbytes = size_t(t.nbytes);
    view.file = file_->name();
    views_.emplace(t.name, std::move(view));
  }
}

const TensorView* GgufSource::find(const std::string& name) const {
  const auto it = views_.find(name);
  if (it != views_.end()) return &it->second;
  const gguf::Tensor* t = file_->tensor(name);
  if (!t) return nullptr;
  file_->fail("tensor " + name + " has type " + t->type_name() +
              ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
              "Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)");
}

}  // namespace tramontane
