#include "config.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace tramontane {

namespace files {

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool is_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string read_text(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size > 0 && uint64_t(size) > max_bytes) {
    throw Error(path + ": too large (" + std::to_string(size) + " bytes, at most " + std::to_string(max_bytes) + ")");
  }
  in.seekg(0, std::ios::beg);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("cannot read " + path);
  return text.str();
}

}  // namespace files

namespace {

// Typed lookups that name the file and key in every message.
class Fields {
 public:
  Fields(const json::Value& root, const std::string& what) : root_(root), what_(what) {
    if (!root.is_object()) throw Error(what + ": expected a JSON object");
  }

  bool has(const char* key) const {
    const json::Value* v = root_.find(key);
    return v && !v->is_null();
  }

  // A positive integer below `max` (limits keep every later size computation in range).
  int positive(const char* key, int64_t max = 1 << 24) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) throw Error(what_ + ": missing \"" + key + "\"");
    return positive_value(*v, key, max);
  }

  int positive_or(const char* key, int fallback, int64_t max = 1 << 24) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    return positive_value(*v, key, max);
  }

  double number_or(const char* key, double fallback) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_number()) throw Error(what_ + ": \"" + key + "\" must be a number");
    return v->as_number();
  }

  bool bool_or(const char* key, bool fallback) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_bool()) throw Error(what_ + ": \"" + key + "\" must be true or false");
    return v->as_bool();
  }

  // Token ids may be an integer or a list of integers (the first is used).
  int token_id_or(const char* key, int fallback) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    if (v->is_array()) {
      const auto& items = v->as_array();
      if (items.empty()) return fallback;
      v = &items[0];
    }
    if (!v->is_number() || v->as_number() != std::floor(v->as_number()) || v->as_number() < 0 ||
        v->as_number() > 1e9) {
      throw Error(what_ + ": \"" + key + "\" must be a token id");
    }
    return int(v->as_number());
  }

  const json::Value* find(const char* key) const { return root_.find(key); }
  const std::string& what() const { return what_; }

 private:
  int positive_value(const json::Value& v, const char* key, int64_t max) const {
    if (!v.is_number()) throw Error(what_ + ": \"" + key + "\" must be an integer");
    double x = v.as_number();
    if (x != std::floor(x) || x < 1 || x > double(max)) {
      throw Error(what_ + ": \"" + key + "\" must be an integer in [1, " + std::to_string(max) +
                  "], found " + std::to_string(x));
    }
    return int(x);
  }

  const json::Value& root_;
  std::string what_;
};

}  // namespace

// Shared sanity checks: the forward pass relies on each of these.
void validate_config(const ModelConfig& c, const std::string& what) {
  if (c.n_heads % c.n_kv_heads != 0) {
    throw Error(what + ": attention heads (" + std::to_string(c.n_heads) +
                ") must be a multiple of key/value heads (" + std::to_string(c.n_kv_heads) + ")");
  }
  if (c.head_dim % 2 != 0) {
    throw Error(what + ": head_dim must be even for RoPE, found " + std::to_string(c.head_dim));
  }
  if (!(c.rope_theta > 1.f) || !std::isfinite(c.rope_theta)) {
    throw Error(what + ": rope_theta must be a finite number > 1");
  }
  if (!(c.norm_eps > 0.f) || !std::isfinite(c.norm_eps)) {
    throw Error(what + ": the RMSNorm epsilon must be a finite number > 0");
  }
  if (c.sliding_window < 0) throw Error(what + ": sliding_window must be positive or null");
  if (c.feed_forward == FeedForwardKind::MixtureOfExperts &&
      c.n_experts_per_token > c.n_experts) {
    throw Error(what + ": " + std::to_string(c.n_experts_per_token) +
                " experts per token exceed the " + std::to_string(c.n_experts) + " experts");
  }
}

// A mixture of experts when the config names its experts (HF: num_local_experts and
// num_experts_per_tok; params.json: moe.num_experts and moe.num_experts_per_tok).
void read_experts(const Fields& f, const char* experts, const char* per_token, ModelConfig& c) {
  if (!f.has(experts)) return;
  c.feed_forward = FeedForwardKind::MixtureOfExperts;
  c.n_experts = f.positive(experts, 4096);
  c.n_experts_per_token = f.positive(per_token, 4096);
}

ModelConfig parse_hf_config(const json::Value& root, const std::string& what) {
  Fields f(root, what);
  ModelConfig c;
  c.vocab_size = f.positive("vocab_size");
  c.dim = f.positive("hidden_size");
  c.n_layers = f.positive("num_hidden_layers", 4096);
  c.n_heads = f.positive("num_attention_heads", 4096);
  c.n_kv_heads = f.positive_or("num_key_value_heads", c.n_heads, 4096);
  c.hidden_dim = f.positive("intermediate_size");
  // Some configs set head_dim explicitly (and it may differ from hidden / heads).
  if (f.has("head_dim")) {
    c.head_dim = f.positive("head_dim", 1 << 16);
  } else {
    if (c.dim % c.n_heads != 0) {
      throw Error(what + ": hidden_size is not a multiple of num_attention_heads and head_dim "
                         "is not given");
    }
    c.head_dim = c.dim / c.n_heads;
  }
  c.sliding_window = f.positive_or("sliding_window", 0, 1 << 24);
  c.max_position = f.positive_or("max_position_embeddings", 0, 1 << 24);
  c.norm_eps = float(f.number_or("rms_norm_eps", 1e-6));

  // rope_theta: transformers 5 writes it under rope_parameters, older versions at the top.
  double theta = 10000.0;
  const json::Value* params = f.find("rope_parameters");
  if (params && params->is_object()) {
    Fields p(*params, what + " rope_parameters");
    theta = p.number_or("rope_theta", f.number_or("rope_theta", theta));
    const json::Value* type = params->find("rope_type");
    if (type && type->is_string() && type->as_string() != "default") {
      throw Error(what + ": unsupported rope_type \"" + type->as_string() +
                  "\" (only the default RoPE is implemented)");
    }
  } else {
    theta = f.number_or("rope_theta", theta);
  }
  const json::Value* scaling = f.find("rope_scaling");
  if (scaling && scaling->is_object()) {
    const json::Value* type = scaling->find("rope_type");
    if (!type) type = scaling->find("type");
    std::string name = type && type->is_string() ? type->as_string() : "?";
    if (name != "default") {
      throw Error(what + ": unsupported rope_scaling \"" + name +
                  "\" (only the default RoPE is implemented)");
    }
  }
  c.rope_theta = float(theta);

  const json::Value* act = f.find("hidden_act");
  if (act && act->is_string() && act->as_string() != "silu") {
    throw Error(what + ": unsupported hidden_act \"" + act->as_string() + "\" (expected silu)");
  }
  c.tie_embeddings = f.bool_or("tie_word_embeddings", false);
  c.bos_id = f.token_id_or("bos_token_id", 1);
  c.eos_id = f.token_id_or("eos_token_id", 2);
  c.rope_layout = RopeLayout::RotateHalf;
  read_experts(f, "num_local_experts", "num_experts_per_tok", c);
  validate_config(c, what);
  return c;
}

ModelConfig parse_params_json(const json::Value& root, const std::string& what) {
  Fields f(root, what);
  ModelConfig c;
  c.dim = f.positive("dim");
  c.n_layers = f.positive("n_layers", 4096);
  c.n_heads = f.positive("n_heads", 4096);
  c.n_kv_heads = f.positive_or("n_kv_heads", c.n_heads, 4096);
  c.hidden_dim = f.positive("hidden_dim");
  c.vocab_size = f.positive("vocab_size");
  if (f.has("head_dim")) {
    c.head_dim = f.positive("head_dim", 1 << 16);
  } else {
    if (c.dim % c.n_heads != 0) {
      throw Error(what + ": dim is not a multiple of n_heads and head_dim is not given");
    }
    c.head_dim = c.dim / c.n_heads;
  }
  c.sliding_window = f.positive_or("sliding_window", 0, 1 << 24);
  c.max_position = 0;  // params.json does not say
  c.norm_eps = float(f.number_or("norm_eps", 1e-5));
  c.rope_theta = float(f.number_or("rope_theta", 10000.0));  // v0.1 omits it
  c.tie_embeddings = f.bool_or("tied_embeddings", false);
  c.rope_layout = RopeLayout::Interleaved;
  c.bos_id = 1;
  c.eos_id = 2;
  const json::Value* moe = f.find("moe");
  if (moe && !moe->is_null()) {
    read_experts(Fields(*moe, what + " moe"), "num_experts", "num_experts_per_tok", c);
  }
  validate_config(c, what);
  return c;
}

LoadedConfig load_config(const std::string& dir) {
  if (!files::is_directory(dir)) throw Error("model directory not found: " + dir);
  LoadedConfig loaded;
  std::string hf = files::join(dir, "config.json");
  std::string mistral = files::join(dir, "params.json");
  if (files::is_file(hf)) {
    loaded.format = ModelFormat::HuggingFace;
    loaded.config = parse_hf_config(json::Value::parse(files::read_text(hf), hf), hf);
  } else if (files::is_file(mistral)) {
    loaded.format = ModelFormat::Consolidated;
    loaded.config = parse_params_json(json::Value::parse(files::read_text(mistral), mistral), mistral);
  } else {
    throw Error("no config.json or params.json in " + dir);
  }
  return loaded;
}

}  // namespace tramontane
