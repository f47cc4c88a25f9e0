#include <string>

#include "convert.h"
#include "gguf_model.h"
#include "quant_blocks.h"

namespace tramontane {

namespace {

class Loader {
 public:
  explicit Loader(const gguf::File& file) : file_(file) {}

  const gguf::Tensor& tensor(const std::string& name, std::vector<int64_t> shape) {
    const gguf::Tensor* t = file_.tensor(name);
    if (!t) file_.fail("missing tensor " + name);
    if (t->shape() != shape) {
      file_.fail("tensor " + name + ": expected shape " + shape_string(shape) + ", found " + shape_string(t->shape()));
    }
    if (!gguf::engine_dtype(t->type)) {
      file_.fail("tensor " + name + " has type " + t->type_name() +
                 ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, "
                 "Q5_K, Q6_K, IQ4_NL, IQ4_XS)");
    }
    return *t;
  }

  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    const gguf::Tensor& t = tensor(name, {rows, cols});
    const DType dtype = *gguf::engine_dtype(t.type);
    if (!is_quantized(dtype) && reinterpret_cast<uintptr_t>(t.data) % dtype_size(dtype) != 0) {
      file_.fail("tensor " + name + ": data is not aligned to its " + dtype_name(dtype) + " elements");
    }
    return Matrix{t.data, dtype, rows, cols};
  }

  std::vector<float> values(const std::string& name, int64_t n) {
    const gguf::Tensor& t = tensor(name, {n});
    std::vector<float> out(static_cast<size_t>(n));
    cpu::dequantize_row(*gguf::engine_dtype(t.type), t.data, out.data(), n);
    return out;
  }

 private:
  const gguf::File& file_;
};

std::string layer(const char* name, int index) { return "blk." + std::to_string(index) + "." + name + ".weight"; }

}  // namespace

Weights gguf_weights(const gguf::File& file, const ModelConfig& c, const std::function<void(float)>& progress) {
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim;
  const int64_t kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
  Loader load(file);
  Weights w;
  w.embed = load.matrix("token_embd.weight", c.vocab_size, c.dim);
  w.layers.resize(size_t(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[size_t(i)];
    l.attn_norm = load.values(layer("attn_norm", i), c.dim);
    l.wq = load.matrix(layer("attn_q", i), q_dim, c.dim);
    l.wk = load.matrix(layer("attn_k", i), kv_dim, c.dim);
    l.wv = load.matrix(layer("attn_v", i), kv_dim, c.dim);
    l.wo = load.matrix(layer("attn_output", i), c.dim, q_dim);
    l.ffn_norm = load.values(layer("ffn_norm", i), c.dim);
    l.w_gate = load.matrix(layer("ffn_gate", i), c.hidden_dim, c.dim);
    l.w_up = load.matrix(layer("ffn_up", i), c.hidden_dim, c.dim);
    l.w_down = load.matrix(layer("ffn_down", i), c.dim, c.hidden_dim);
  }
  w.final_norm = load.values("output_norm.weight", c.dim);
  w.lm_head = c.tie_embeddings ? w.embed : load.matrix("output.weight", c.vocab_size, c.dim);
  touch_weights(w, c, progress);
  return w;
}

}  // namespace tramontane
