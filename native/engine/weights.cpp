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
    n.router = "model.layers.{}.block_sparse_moe.gate.weight";
    n.expert_gate = "model.layers.{}.block_sparse_moe.experts.{}.w1.weight";
    n.expert_up = "model.layers.{}.block_sparse_moe.experts.{}.w3.weight";
    n.expert_down = "model.layers.{}.block_sparse_moe.experts.{}.w2.weight";
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
    n.router = "blk.{}.ffn_gate_inp.weight";
    n.expert_gate = "blk.{}.ffn_gate.{}.weight";
    n.expert_up = "blk.{}.ffn_up.{}.weight";
    n.expert_down = "blk.{}.ffn_down.{}.weight";
    n.stacked_gate = "blk.{}.ffn_gate_exps.weight";
    n.stacked_up = "blk.{}.ffn_up_exps.weight";
    n.stacked_down = "blk.{}.ffn_down_exps.weight";
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
    n.router = "layers.{}.feed_forward.gate.weight";
    n.expert_gate = "layers.{}.feed_forward.experts.{}.w1.weight";
    n.expert_up = "layers.{}.feed_forward.experts.{}.w3.weight";
    n.expert_down = "layers.{}.feed_forward.experts.{}.w2.weight";
  }
  return n;
}

std::string WeightNames::layer(const std::string& pattern, int index) const {
  std::string s = pattern;
  s.replace(s.find("{}"), 2, std::to_string(index));
  return s;
}

std::string WeightNames::expert(const std::string& pattern, int layer_index, int expert_index) const {
  return WeightNames::layer(WeightNames::layer(pattern, layer_index), expert_index);
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

  // Expert e of a stacked [experts, rows, cols] tensor, for every e.
  std::vector<Matrix> stacked(const std::string& name, int64_t experts, int64_t rows, int64_t cols) {
    const TensorView* t = source_.find(name);
    if (t && t->shape.size() == 3 && t->shape[0] != experts) {
      throw Error(name + " holds " + std::to_string(t->shape[0]) + " experts, but the config says " +
                  std::to_string(experts) + " (" + t->file + ")");
    }
    tensor(name, {experts, rows, cols});
    std::vector<Matrix> out;
    const size_t bytes = size_t(rows) * row_bytes(t->type, cols);
    for (int64_t e = 0; e < experts; ++e) {
      out.push_back(Matrix{static_cast<const uint8_t*>(t->data) + size_t(e) * bytes, t->type, rows, cols});
    }
    return out;
  }

  const TensorView* find(const std::string& name) const { return source_.find(name); }

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

// The layer's router and experts. The router's rows are the experts the file holds: a
// count that differs from the config's is named as such, not as a bad shape.
ExpertWeights load_experts(Loader& load, const WeightNames& names, const ModelConfig& c, int layer) {
  ExpertWeights m;
  const std::string router = names.layer(names.router, layer);
  if (const TensorView* t = load.find(router);
      t && t->shape.size() == 2 && t->shape[1] == c.dim && t->shape[0] != c.n_experts) {
    throw Error(router + " routes to " + std::to_string(t->shape[0]) + " experts, but the config says " +
                std::to_string(c.n_experts) + " (" + t->file + ")");
  }
  m.router = load.matrix(router, c.n_experts, c.dim);
  const bool stacked = !names.stacked_gate.empty() &&
                       (load.find(names.layer(names.stacked_gate, layer)) ||
                        !load.find(names.expert(names.expert_gate, layer, 0)));
  m.experts.resize(size_t(c.n_experts));
  if (stacked) {
    const std::vector<Matrix> gate = load.stacked(names.layer(names.stacked_gate, layer), c.n_experts, c.hidden_dim, c.dim);
    const std::vector<Matrix> up = load.stacked(names.layer(names.stacked_up, layer), c.n_experts, c.hidden_dim, c.dim);
    const std::vector<Matrix> down = load.stacked(names.layer(names.stacked_down, layer), c.n_experts, c.dim, c.hidden_dim);
    for (size_t e = 0; e < m.experts.size(); ++e) m.experts[e] = {gate[e], up[e], down[e]};
    return m;
  }
  for (int e = 0; e < c.n_experts; ++e) {
    FeedForwardWeights& f = m.experts[size_t(e)];
    f.gate = load.matrix(names.expert(names.expert_gate, layer, e), c.hidden_dim, c.dim);
    f.up = load.matrix(names.expert(names.expert_up, layer, e), c.hidden_dim, c.dim);
    f.down = load.matrix(names.expert(names.expert_down, layer, e), c.dim, c.hidden_dim);
  }
  return m;
}

}  // namespace

Weights load_weights(const TensorSource& source, const ModelConfig& c, ModelFormat format,
                     const std::function<void(float)>& progress) {
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
    if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
      l.moe = load_experts(load, names, c, i);
    } else {
      l.ffn.gate = load.matrix(names.layer(names.w_gate, i), c.hidden_dim, c.dim);
      l.ffn.up = load.matrix(names.layer(names.w_up, i), c.hidden_dim, c.dim);
      l.ffn.down = load.matrix(names.layer(names.w_down, i), c.dim, c.hidden_dim);
    }
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
    for (const Matrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn.gate, &l.ffn.up, &l.ffn.down, &l.moe.router}) {
      touch(*m);
    }
    for (const FeedForwardWeights& e : l.moe.experts) {
      for (const Matrix* m : {&e.gate, &e.up, &e.down}) touch(*m);
    }
    if (progress) progress(float(i + 1) / steps);
  }
  if (!c.tie_embeddings) touch(w.lm_head);
  if (progress) progress(1.f);
}

}  // namespace tramontane
