#include "gguf_convert.h"

#include <vector>

#include "config.h"
#include "convert.h"
#include "gguf_writer.h"
#include "quant_blocks.h"
#include "model_files.h"
#include "sentencepiece_model.h"
#include "tramontane/engine.h"
#include "weights.h"

namespace tramontane {

namespace {

std::vector<float> widen(const TensorView& t) {
  size_t n = 1;
  for (int64_t d : t.shape) n *= size_t(d);
  std::vector<float> out(n);
  cpu::to_f32(out.data(), t.data, t.type, n);
  return out;
}

// HF's q/k rows [head][half][i] → interleaved [head][i][half].
std::vector<float> interleave(const std::vector<float>& w, int64_t heads, int64_t head_dim, int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const float* src = &w[size_t((h * head_dim + j * half + i) * cols)];
        std::copy(src, src + cols, &out[size_t((h * head_dim + 2 * i + j) * cols)]);
      }
    }
  }
  return out;
}

// rows × cols values, written with `shape` (default [rows, cols]; stacked experts
// [experts, rows / experts, cols]).
void add_matrix(gguf::Writer& out, const std::string& name, const std::vector<float>& w, int64_t rows,
                int64_t cols, StoredType type, std::vector<int64_t> shape = {}) {
  if (shape.empty()) shape = {rows, cols};
  if (cols % block_size(type) != 0) type = cols % 32 == 0 ? StoredType::Q8_0 : StoredType::F16;
  std::vector<uint8_t> bytes(size_t(rows) * row_bytes(type, cols));
  for (int64_t r = 0; r < rows; ++r) {
    cpu::quantize_row(type, &w[size_t(r * cols)], bytes.data() + size_t(r) * row_bytes(type, cols), cols);
  }
  out.add_tensor(name, type, shape, bytes.data(), bytes.size());
}

void add_tokenizer(gguf::Writer& out, const std::string& dir) {
  std::string path;
  for (const char* name : {"tokenizer.model", "tokenizer.model.v3", "tokenizer.model.v1"}) {
    if (files::is_file(files::join(dir, name))) {
      path = files::join(dir, name);
      break;
    }
  }
  if (path.empty()) return;
  add_vocabulary(out, spm::parse_model(files::read_text(path), path));
}

}  // namespace

void add_vocabulary(gguf::Writer& out, const spm::ModelProto& model) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const spm::Piece& p : model.pieces) {
    tokens.push_back(p.piece);
    scores.push_back(p.score);
    types.push_back(int32_t(p.type));
  }
  out.add_string("tokenizer.ggml.model", "llama");
  out.add_strings("tokenizer.ggml.tokens", tokens);
  out.add_floats("tokenizer.ggml.scores", scores);
  out.add_i32s("tokenizer.ggml.token_type", types);
  out.add_u32("tokenizer.ggml.bos_token_id", uint32_t(model.bos_id));
  out.add_u32("tokenizer.ggml.eos_token_id", uint32_t(model.eos_id));
  out.add_u32("tokenizer.ggml.unknown_token_id", uint32_t(model.unk_id));
  out.add_bool("tokenizer.ggml.add_bos_token", true);
  out.add_bool("tokenizer.ggml.add_space_prefix", model.add_dummy_prefix);
  if (model.remove_extra_whitespaces) out.add_bool("tokenizer.ggml.remove_extra_whitespaces", true);
}

void add_model_metadata(gguf::Writer& out, const ModelConfig& c, const std::string& name) {
  out.add_string("general.architecture", "llama");
  out.add_string("general.name", name);
  if (c.max_position > 0) out.add_u32("llama.context_length", uint32_t(c.max_position));
  out.add_u32("llama.embedding_length", uint32_t(c.dim));
  out.add_u32("llama.block_count", uint32_t(c.n_layers));
  out.add_u32("llama.feed_forward_length", uint32_t(c.hidden_dim));
  out.add_u32("llama.attention.head_count", uint32_t(c.n_heads));
  out.add_u32("llama.attention.head_count_kv", uint32_t(c.n_kv_heads));
  out.add_u32("llama.attention.key_length", uint32_t(c.head_dim));
  out.add_u32("llama.attention.value_length", uint32_t(c.head_dim));
  out.add_u32("llama.rope.dimension_count", uint32_t(c.head_dim));
  out.add_f32("llama.rope.freq_base", c.rope_theta);
  out.add_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  if (c.sliding_window > 0) out.add_u32("llama.attention.sliding_window", uint32_t(c.sliding_window));
  out.add_u32("llama.vocab_size", uint32_t(c.vocab_size));
  if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
    out.add_u32("llama.expert_count", uint32_t(c.n_experts));
    out.add_u32("llama.expert_used_count", uint32_t(c.n_experts_per_token));
  }
}

void convert_to_gguf(const std::string& dir, const std::string& out_path, StoredType type) {
  const ModelFiles loaded = open_model_files(dir, 0);
  if (loaded.format == ModelFormat::Gguf) throw Error(dir + " is a GGUF model already");
  const ModelConfig& c = loaded.config;
  const Weights w = load_weights(*loaded.tensors, c, loaded.format, nullptr);  // validates every shape
  const WeightNames names = WeightNames::for_format(loaded.format);
  const bool hf = loaded.format == ModelFormat::HuggingFace;

  gguf::Writer out;
  add_model_metadata(out, c, dir.substr(dir.find_last_of('/') + 1));
  add_tokenizer(out, dir);

  auto matrix = [&](const std::string& gguf_name, const std::string& name, int64_t rows, int64_t cols,
                    int64_t rope_heads = 0) {
    std::vector<float> values = widen(*loaded.tensors->find(name));
    if (hf && rope_heads > 0) values = interleave(values, rope_heads, c.head_dim, cols);
    add_matrix(out, gguf_name, values, rows, cols, type);
  };
  auto stacked = [&](const std::string& gguf_name, const std::string& pattern, int layer, int64_t rows,
                     int64_t cols) {
    std::vector<float> values;
    for (int e = 0; e < c.n_experts; ++e) {
      const std::vector<float> one = widen(*loaded.tensors->find(names.expert(pattern, layer, e)));
      values.insert(values.end(), one.begin(), one.end());
    }
    add_matrix(out, gguf_name, values, int64_t(c.n_experts) * rows, cols, type, {c.n_experts, rows, cols});
  };
  auto vector = [&](const std::string& gguf_name, const std::vector<float>& v) {
    out.add_tensor(gguf_name, StoredType::F32, {int64_t(v.size())}, v.data(), v.size() * 4);
  };
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
  matrix("token_embd.weight", names.embed, c.vocab_size, c.dim);
  vector("output_norm.weight", w.final_norm);
  if (!c.tie_embeddings) matrix("output.weight", names.lm_head, c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    vector(p + "attn_norm.weight", w.layers[size_t(i)].attn_norm);
    matrix(p + "attn_q.weight", names.layer(names.wq, i), q_dim, c.dim, c.n_heads);
    matrix(p + "attn_k.weight", names.layer(names.wk, i), kv_dim, c.dim, c.n_kv_heads);
    matrix(p + "attn_v.weight", names.layer(names.wv, i), kv_dim, c.dim);
    matrix(p + "attn_output.weight", names.layer(names.wo, i), c.dim, q_dim);
    vector(p + "ffn_norm.weight", w.layers[size_t(i)].ffn_norm);
    if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
      // The router stays F32 (llama-quantize leaves it too: the choice of experts is
      // sensitive to it), and each matrix of all experts is stacked [experts, rows, cols].
      add_matrix(out, p + "ffn_gate_inp.weight", widen(*loaded.tensors->find(names.layer(names.router, i))),
                 c.n_experts, c.dim, StoredType::F32);
      stacked(p + "ffn_gate_exps.weight", names.expert_gate, i, c.hidden_dim, c.dim);
      stacked(p + "ffn_up_exps.weight", names.expert_up, i, c.hidden_dim, c.dim);
      stacked(p + "ffn_down_exps.weight", names.expert_down, i, c.dim, c.hidden_dim);
      continue;
    }
    matrix(p + "ffn_gate.weight", names.layer(names.w_gate, i), c.hidden_dim, c.dim);
    matrix(p + "ffn_up.weight", names.layer(names.w_up, i), c.hidden_dim, c.dim);
    matrix(p + "ffn_down.weight", names.layer(names.w_down, i), c.dim, c.hidden_dim);
  }
  out.write(out_path);
}

}  // namespace tramontane
