#include "weights.h"

#include <cstring>

#include "quant_blocks.h"

namespace tramontane {

WeightNames WeightNames::for_format(ModelFormat format) {
  WeightNames n;
  if (format == ModelFormat::HuggingFace) {
    n.embed = "model.embed_tokens.weight";
    n.final_norm = "model.norm.weight";
    n.lm_head = "lm_head.weight";
    n.attn_norm = "model.layers.{}.input_layernorm.weight";
    n.wq = "model.layers.{}.self_attn.q_proj.weight";
    n.wk = "model.layers.{}.self_attn.k_proj.weight";
    n.wv = "model.layers.{}.self_attn.v_proj.weight";
    n.wo = "model.layers.{}.self_attn.o_proj.weight";
    n.ffn_norm = "model.layers.{}.post_attention_layernorm.weight";
    n.w_gate = "model.layers.{}.mlp.gate_proj.weight";
    n.w_up = "model.layers.{}.mlp.up_proj.weight";
    n.w_down = "model.layers.{}.mlp.down_proj.weight";
  } else if (format == ModelFormat::Gguf) {
    n.embed = "token_embd.weight";
    n.final_norm = "output_norm.weight";
    n.lm_head = "output.weight";
    n.attn_norm = "blk.{}.attn_norm.weight";
    n.wq = "blk.{}.attn_q.weight";
    n.wk = "blk.{}.attn_k.weight";
    n.wv = "blk.{}.attn_v.weight";
    n.wo = "blk.{}.attn_output.weight";
    n.ffn_norm = "blk.{}.ffn_norm.weight";
    n.w_gate = "blk.{}.ffn_gate.weight";
    n.w_up = "blk.{}.ffn_up.weight";
    n.w_down = "blk.{}.ffn_down.weight";
  } else {
    n.embed = "tok_embeddings.weight";
    n.final_norm = "norm.weight";
    n.lm_head = "output.weight";
    n.attn_norm = "layers.{}.attention_norm.weight";
    n.wq = "layers.{}.attention.wq.weight";
    n.wk = "layers.{}.attention.wk.weight";
    n.wv = "layers.{}.attention.wv.weight";
    n.wo = "layers.{}.attention.wo.weight";
    n.ffn_norm = "layers.{}.ffn_norm.weight";
    n.w_gate = "layers.{}.feed_forward.w1.weight";
    n.w_up = "layers.{}.feed_forward.w3.weight";
    n.w_down = "layers.{}.feed_forward.w2.weight";
  }
  return n;
}

std::string WeightNames::layer(const std::string& pattern, int index) const {
  std::string s = pattern;
  s.replace(s.find("{}"), 2, std::to_string(index));
  return s;
}

namespace {

class Loader {
 public:
  explicit Loader(const TensorSource& source) : source_(source) {}

  const TensorView& tensor(const std::string& name, std::vector<int64_t> shape) {
    const TensorView* t = source_.find(name);
    if (!t) throw Error("missing tensor " + name + " in " + source_.where());
    if (t->shape != shape) {
      throw Error(name + ": expected shape " + shape_string(shape) + ", found " +
                  shape_string(t->shape) + " in " + t->file);
    }
    return *t;
  }

  Matrix matrix(const std::string& name, int64_t rows, int64_t cols) {
    const TensorView& t = tensor(name, {rows, cols});
    return Matrix{t.data, t.type, rows, cols};
  }

  std::vector<float> values(const std::string& name, int64_t n) {
    const TensorView& t = tensor(name, {n});
    std::vector<float> out(static_cast<size_t>(n));
    cpu::dequantize_row(t.type, t.data, out.data(), n);  // norms are F32 in practice
    return out;
  }

 private:
  const TensorSource& source_;
};

// Reads one byte per page so the first request does not pay for the disk.
void touch(const Matrix& m) {
  const volatile uint8_t* p = static_cast<const uint8_t*>(m.data);
  const size_t bytes = m.bytes();
  uint8_t sink = 0;
  for (size_t i = 0; i < bytes; i += 4096) sink ^= p[i];
  (void)sink;
}

}  // namespace

Weights load_weights(const TensorSource& source, const ModelConfig& c, ModelFormat format,
                     const std::function<void(float)>& progress) {
  if (c.feed_forward != FeedForwardKind::Dense) {
    throw Error("load_weights: only the dense feed-forward family is implemented");
  }
  const WeightNames names = WeightNames::for_format(format);
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim;
  const int64_t kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
  Loader load(source);
  Weights w;
  w.embed = load.matrix(names.embed, c.vocab_size, c.dim);
  w.layers.resize(size_t(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[size_t(i)];
    l.attn_norm = load.values(names.layer(names.attn_norm, i), c.dim);
    l.wq = load.matrix(names.layer(names.wq, i), q_dim, c.dim);
    l.wk = load.matrix(names.layer(names.wk, i), kv_dim, c.dim);
    l.wv = load.matrix(names.layer(names.wv, i), kv_dim, c.dim);
    l.wo = load.matrix(names.layer(names.wo, i), c.dim, q_dim);
    l.ffn_norm = load.values(names.layer(names.ffn_norm, i), c.dim);
    l.ffn.gate = load.matrix(names.layer(names.w_gate, i), c.hidden_dim, c.dim);
    l.ffn.up = load.matrix(names.layer(names.w_up, i), c.hidden_dim, c.dim);
    l.ffn.down = load.matrix(names.layer(names.w_down, i), c.dim, c.hidden_dim);
  }
  w.final_norm = load.values(names.final_norm, c.dim);
  w.lm_head = c.tie_embeddings ? w.embed : load.matrix(names.lm_head, c.vocab_size, c.dim);
  touch_weights(w, c, progress);
  return w;
}

void touch_weights(const Weights& w, const ModelConfig& c, const std::function<void(float)>& progress) {
  // Everything is validated; now bring the pages in, reporting progress per layer.
  const float steps = float(c.n_layers + 2);
  if (progress) progress(0.f);
  touch(w.embed);
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerWeights& l = w.layers[size_t(i)];
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn.gate, &l.ffn.up, &l.ffn.down}) {
      touch(*m);
    }
    if (progress) progress(float(i + 1) / steps);
  }
  if (!c.tie_embeddings) touch(w.lm_head);
  if (progress) progress(1.f);
}

}  // namespace tramontane
