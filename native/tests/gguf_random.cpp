// Random-weight GGUF files (engine/gguf_random.h, tramontane-gguf_random) on the CPU:
// the small shapes are written, read back by the GGUF parser (metadata, llama.cpp's
// names, shapes and Q4_K_M type per tensor) and loaded by the engine, which runs them
// and tokenizes with the vocabulary they carry. Also the writer's streamed tensors.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_random.h"
#include "gguf_writer.h"
#include "harness.h"
#include "quant_mix.h"
#include "quant_blocks.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using namespace tramontane;
using harness::read_file;
using harness::status_kb;
using harness::TempDir;

namespace {

const std::string kTokenizer = "models/default/tokenizer.model";

std::string write(const TempDir& dir, const std::string& shape, const std::string& type, int layers = 0,
                  uint64_t seed = 1) {
  RandomModel m;
  m.shape = shape;
  m.file_type = type;
  m.tokenizer = kTokenizer;
  m.layers = layers;
  m.seed = seed;
  m.threads = 2;
  const std::string path = dir.file(shape + "-" + type + "-" + std::to_string(seed) + ".gguf");
  write_random_gguf(m, path);
  return path;
}

std::string type_of(const gguf::File& f, const std::string& tensor) {
  const gguf::Tensor* t = f.tensor(tensor);
  return t ? t->type_name() : "(missing)";
}

std::shared_ptr<Model> load(const std::string& path) {
  LoadOptions options;
  options.backend = BackendKind::Cpu;
  options.threads = 2;
  return Model::load(path, options);
}

// Logits of every position of a short text are finite, and not all alike.
void check_runs(Model& model) {
  const std::vector<int> tokens = model.tokenizer()->encode("def fibonacci(n):\n    return n", true);
  const size_t vocab = size_t(model.config().vocab_size);
  std::vector<float> logits(tokens.size() * vocab);
  std::unique_ptr<Session> session = model.new_session(SessionOptions{});
  session->feed(tokens.data(), tokens.size(), logits.data());
  CHECK(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
  CHECK(!std::equal(logits.begin(), logits.begin() + std::ptrdiff_t(vocab), logits.end() - std::ptrdiff_t(vocab)));
}

// The file's vocabulary tokenizes as the tokenizer.model it came from, both ways.
void check_tokenizer(Model& model) {
  const std::unique_ptr<Tokenizer> spm = Tokenizer::load(kTokenizer);
  const Tokenizer* ours = model.tokenizer();
  CHECK(ours != nullptr);
  if (!ours) return;
  CHECK(ours->vocab_size() == spm->vocab_size() && model.config().vocab_size == spm->vocab_size());
  for (const std::string text : {"int main() { return 0; }", "  two leading spaces\n\ttab é ☃", "[INST] hi [/INST]"}) {
    const std::vector<int> ids = ours->encode(text, true);
    CHECK(ids == spm->encode(text, true));
    CHECK(ours->decode(ids) == text);
  }
}

}  // namespace

TEST(tiny_mixtral_q4_k_m_reads_back_loads_and_runs) {
  TempDir dir;
  const std::string path = write(dir, "tiny-mixtral", "Q4_K_M");
  {
    const gguf::File f(path);
    CHECK(f.string("general.architecture") == "llama");
    CHECK(f.integer("general.file_type") == 15);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    CHECK(f.integer("llama.block_count") == 4);
    CHECK(f.integer("llama.expert_count") == 8 && f.integer("llama.expert_used_count") == 2);
    CHECK(f.string("tokenizer.ggml.model") == "llama");
    // llama-quantize's Q4_K_M for a model of 8 experts: attn_k / attn_v Q8_0 and
    // attn_output Q5_K in every layer; ffn_down_exps Q6_K in the "more bits" layers (of 4:
    // layers 2 and 3), Q4_K elsewhere; output Q6_K, token_embd Q4_K; router F32.
    CHECK(type_of(f, "token_embd.weight") == "Q4_K");
    CHECK(type_of(f, "output.weight") == "Q6_K");
    CHECK(type_of(f, "output_norm.weight") == "F32");
    for (int i = 0; i < 4; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      CHECK(type_of(f, p + "attn_q.weight") == "Q4_K");
      CHECK(type_of(f, p + "attn_k.weight") == "Q8_0");
      CHECK(type_of(f, p + "attn_v.weight") == "Q8_0");
      CHECK(type_of(f, p + "attn_output.weight") == "Q5_K");
      CHECK(type_of(f, p + "ffn_gate_exps.weight") == "Q4_K");
      CHECK(type_of(f, p + "ffn_up_exps.weight") == "Q4_K");
      CHECK_MSG(type_of(f, p + "ffn_down_exps.weight") == (i >= 2 ? "Q6_K" : "Q4_K"), "layer %d", i);
      CHECK(type_of(f, p + "ffn_gate_inp.weight") == "F32");
      CHECK(type_of(f, p + "attn_norm.weight") == "F32" && type_of(f, p + "ffn_norm.weight") == "F32");
      CHECK(f.tensor(p + "ffn_gate.weight") == nullptr);
    }
    // llama.cpp's shapes, fastest dimension first: experts stacked last.
    const gguf::Tensor* gate = f.tensor("blk.0.ffn_gate_exps.weight");
    const gguf::Tensor* down = f.tensor("blk.0.ffn_down_exps.weight");
    const gguf::Tensor* router = f.tensor("blk.0.ffn_gate_inp.weight");
    CHECK(gate->n_dims == 3 && gate->ne[0] == 256 && gate->ne[1] == 512 && gate->ne[2] == 8);
    CHECK(down->n_dims == 3 && down->ne[0] == 512 && down->ne[1] == 256 && down->ne[2] == 8);
    CHECK(router->n_dims == 2 && router->ne[0] == 256 && router->ne[1] == 8);

    // Each layer's router is its own, and sends the tokens' embeddings (normalised, as
    // layer 0 sees them) to most of the experts.
    std::set<std::string> routers;
    for (int i = 0; i < 4; ++i) {
      const gguf::Tensor* r = f.tensor("blk." + std::to_string(i) + ".ffn_gate_inp.weight");
      routers.insert(std::string(reinterpret_cast<const char*>(r->data), r->nbytes));
    }
    CHECK(routers.size() == 4);
    const gguf::Tensor* embed = f.tensor("token_embd.weight");
    const float* w = reinterpret_cast<const float*>(router->data);
    std::set<int> used;
    std::vector<float> x(256);
    for (int64_t token = 100; token < 164; ++token) {
      cpu::dequantize_row(StoredType::Q4_K, embed->data + size_t(token) * row_bytes(StoredType::Q4_K, 256), x.data(), 256);
      double square = 0;
      for (float v : x) square += double(v) * v;
      const float scale = float(1 / std::sqrt(square / 256 + 1e-5));
      std::vector<std::pair<float, int>> logits;
      for (int e = 0; e < 8; ++e) {
        float s = 0;
        for (int j = 0; j < 256; ++j) s += w[e * 256 + j] * x[size_t(j)] * scale;
        logits.push_back({s, e});
      }
      std::sort(logits.rbegin(), logits.rend());
      used.insert(logits[0].second);
      used.insert(logits[1].second);
    }
    CHECK_MSG(used.size() >= 6, "64 tokens went to %zu of 8 experts", used.size());
  }
  std::shared_ptr<Model> model = load(path);
  const ModelConfig& c = model->config();
  CHECK(c.feed_forward == FeedForwardKind::MixtureOfExperts && c.n_experts == 8 && c.n_experts_per_token == 2);
  CHECK(c.n_layers == 4 && c.dim == 256 && c.hidden_dim == 512 && c.n_heads == 4 && c.n_kv_heads == 2);
  CHECK(c.head_dim == 64 && c.rope_theta == 1e6f && c.sliding_window == 0 && !c.tie_embeddings);
  check_runs(*model);
  check_tokenizer(*model);
}

TEST(tiny_llama_q4_k_m_types_follow_llama_quantize) {
  TempDir dir;
  const std::string path = write(dir, "tiny-llama", "Q4_K_M", 8);
  const gguf::File f(path);
  CHECK(f.find("llama.expert_count") == nullptr);
  // Dense, 8 layers: "more bits" layers are 0 (< 8/8), 7 (≥ 56/8), 3 and 6 ((i − 1) mod 3 = 2);
  // attn_v and ffn_down are Q6_K there, everything else Q4_K (attn_k and attn_output
  // too: only an 8-expert model raises them).
  for (int i = 0; i < 8; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const std::string more = i == 0 || i == 3 || i == 6 || i == 7 ? "Q6_K" : "Q4_K";
    CHECK_MSG(type_of(f, p + "attn_v.weight") == more, "layer %d attn_v %s", i, type_of(f, p + "attn_v.weight").c_str());
    CHECK_MSG(type_of(f, p + "ffn_down.weight") == more, "layer %d ffn_down", i);
    CHECK(type_of(f, p + "attn_q.weight") == "Q4_K" && type_of(f, p + "attn_k.weight") == "Q4_K");
    CHECK(type_of(f, p + "attn_output.weight") == "Q4_K");
    CHECK(type_of(f, p + "ffn_gate.weight") == "Q4_K" && type_of(f, p + "ffn_up.weight") == "Q4_K");
  }
  CHECK(type_of(f, "output.weight") == "Q6_K" && type_of(f, "token_embd.weight") == "Q4_K");
  std::shared_ptr<Model> model = load(path);
  CHECK(model->config().feed_forward == FeedForwardKind::Dense && model->config().n_layers == 8);
  check_runs(*model);
  check_tokenizer(*model);
}

TEST(q4_k_m_types_of_mixtral_8x7b) {
  // 32 layers: "more bits" are 0-3 (< 32/8), 28-31 (≥ 7·32/8) and those with
  // (i − 4) mod 3 = 2 between: 16 layers whose ffn_down_exps are Q6_K.
  const ModelConfig c = random_model_shape("mixtral-8x7b");
  std::vector<int> q6;
  for (int i = 0; i < 32; ++i) {
    if (llama_q4_k_m_type(MatrixRole::Down, i, c) == StoredType::Q6_K) q6.push_back(i);
    CHECK(llama_q4_k_m_type(MatrixRole::Q, i, c) == StoredType::Q4_K);
    CHECK(llama_q4_k_m_type(MatrixRole::K, i, c) == StoredType::Q8_0);
    CHECK(llama_q4_k_m_type(MatrixRole::V, i, c) == StoredType::Q8_0);
    CHECK(llama_q4_k_m_type(MatrixRole::O, i, c) == StoredType::Q5_K);
    CHECK(llama_q4_k_m_type(MatrixRole::Gate, i, c) == StoredType::Q4_K);
    CHECK(llama_q4_k_m_type(MatrixRole::Up, i, c) == StoredType::Q4_K);
  }
  CHECK(q6 == std::vector<int>({0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  CHECK(llama_q4_k_m_type(MatrixRole::LmHead, 0, c) == StoredType::Q6_K);
  CHECK(llama_q4_k_m_type(MatrixRole::Embed, 0, c) == StoredType::Q4_K);
  // Mistral 7B (dense, GQA 4): the same layers raise attn_v and ffn_down to Q6_K.
  const ModelConfig d = random_model_shape("mistral-7b");
  for (int i = 0; i < 32; ++i) {
    const bool more = std::find(q6.begin(), q6.end(), i) != q6.end();
    const StoredType want = more ? StoredType::Q6_K : StoredType::Q4_K;
    CHECK(llama_q4_k_m_type(MatrixRole::V, i, d) == want && llama_q4_k_m_type(MatrixRole::Down, i, d) == want);
    CHECK(llama_q4_k_m_type(MatrixRole::K, i, d) == StoredType::Q4_K && llama_q4_k_m_type(MatrixRole::O, i, d) == StoredType::Q4_K);
  }
  // Rows that are not whole blocks of 256 fall back as llama-quantize does.
  ModelConfig odd = d;
  odd.hidden_dim = 14336 + 32;
  CHECK(llama_q4_k_m_type(MatrixRole::Down, 5, odd) == StoredType::Q5_0);
  CHECK(llama_q4_k_m_type(MatrixRole::Down, 0, odd) == StoredType::Q8_0);
  odd.hidden_dim = 14336 + 16;
  CHECK(llama_q4_k_m_type(MatrixRole::Down, 5, odd) == StoredType::F16);
}

TEST(q8_0_and_f16_files_load_and_run) {
  TempDir dir;
  for (const std::string type : {"Q8_0", "F16"}) {
    const std::string path = write(dir, "tiny-mixtral", type, 2);
    {
      const gguf::File f(path);
      CHECK(f.integer("general.file_type") == (type == "F16" ? 1 : 7));
      const std::string stored = type == "F16" ? "F16" : "Q8_0";
      for (const char* name : {"token_embd.weight", "output.weight", "blk.1.attn_v.weight", "blk.1.attn_output.weight",
                               "blk.1.ffn_down_exps.weight"}) {
        CHECK_MSG(type_of(f, name) == stored, "%s: %s is %s", type.c_str(), name, type_of(f, name).c_str());
      }
      CHECK(type_of(f, "blk.1.ffn_gate_inp.weight") == "F32");
    }
    std::shared_ptr<Model> model = load(path);
    CHECK(model->config().n_layers == 2);
    check_runs(*model);
  }
}

TEST(a_large_file_is_streamed_not_held) {
  // Mistral 7B's widths, 4 layers: about 650 MB of file; the pools of quantized rows
  // (4096 rows of each kind of matrix) are about 150 MB, and nothing else of that size
  // may be held.
  {
    std::ofstream reset("/proc/self/clear_refs");
    reset << "5";  // the peak resident size restarts from the current one
  }
  const long before = status_kb("VmRSS:");
  TempDir dir;
  const std::string path = write(dir, "mistral-7b", "Q4_K_M", 4);
  const long grown_kb = status_kb("VmHWM:") - before;
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  const double file_mb = double(file.tellg()) / 1e6, grown_mb = double(grown_kb) * 1024 / 1e6;
  std::printf("  %.0f MB file, peak resident size grew by %.0f MB\n", file_mb, grown_mb);
  CHECK(file_mb > 600);
  CHECK_MSG(grown_kb >= 0 && grown_mb < file_mb / 3, "grew by %.0f MB for a %.0f MB file", grown_mb, file_mb);
}

TEST(the_seed_decides_the_bytes) {
  TempDir dir;
  const std::string a = read_file(write(dir, "tiny-llama", "Q4_K_M", 1, 7));
  RandomModel m;
  m.shape = "tiny-llama", m.file_type = "Q4_K_M", m.tokenizer = kTokenizer, m.layers = 1, m.seed = 7;
  m.threads = 1;  // another split of the work: the same bytes
  const std::string one_thread = dir.file("one-thread.gguf");
  write_random_gguf(m, one_thread);
  CHECK(read_file(one_thread) == a);
  const std::string b = read_file(write(dir, "tiny-llama", "Q4_K_M", 1, 8));
  CHECK(a.size() == b.size() && a != b);
}

TEST(streamed_tensors_are_written_as_held_ones) {
  TempDir dir;
  std::vector<uint8_t> q(3 * row_bytes(StoredType::Q8_0, 64));
  for (size_t i = 0; i < q.size(); ++i) q[i] = uint8_t(i * 7);
  std::vector<float> v(5, 0.5f);
  gguf::Writer held, streamed;
  for (gguf::Writer* w : {&held, &streamed}) {
    w->add_string("general.architecture", "llama");
    w->add_tensor("norm", StoredType::F32, {5}, v.data(), 20);
  }
  held.add_tensor("m", StoredType::Q8_0, {3, 64}, q.data(), q.size());
  streamed.declare_tensor("m", StoredType::Q8_0, {3, 64});
  held.write(dir.file("held.gguf"));
  streamed.write(dir.file("streamed.gguf"), [&](size_t i, const gguf::Writer::Put& put) {
    CHECK(i == 1);
    put(q.data(), 10);  // in pieces
    put(q.data() + 10, q.size() - 10);
  });
  CHECK(read_file(dir.file("held.gguf")) == read_file(dir.file("streamed.gguf")));
  CHECK(read_file(dir.file("held.gguf")) == held.bytes());
  EXPECT_ERROR(streamed.bytes(), "m", "streamed");
  EXPECT_ERROR(streamed.write(dir.file("short.gguf"),
                              [&](size_t, const gguf::Writer::Put& put) { put(q.data(), q.size() - 1); }),
               "short.gguf", "tensor m", "declared");
  EXPECT_ERROR(streamed.write(dir.file("none.gguf")), "none.gguf", "m");
}

TEST(bad_options_are_one_line_errors) {
  TempDir dir;
  RandomModel m;
  m.shape = "tiny-llama", m.file_type = "Q4_K_M", m.tokenizer = kTokenizer;
  auto with = [&](auto change) {
    RandomModel b = m;
    change(b);
    return b;
  };
  const std::string out = dir.file("x.gguf");
  EXPECT_ERROR(write_random_gguf(with([](RandomModel& b) { b.shape = "llama-70b"; }), out), "--shape", "llama-70b");
  EXPECT_ERROR(write_random_gguf(with([](RandomModel& b) { b.file_type = "Q5_K_M"; }), out), "--type", "Q5_K_M");
  EXPECT_ERROR(write_random_gguf(with([](RandomModel& b) { b.tokenizer = "nowhere/tokenizer.model"; }), out),
               "nowhere/tokenizer.model");
  EXPECT_ERROR(write_random_gguf(with([](RandomModel& b) { b.tokenizer = "models/default/README.md"; }), out),
               "README.md");
  EXPECT_ERROR(write_random_gguf(with([](RandomModel& b) { b.layers = 5000; }), out), "--layers");
  EXPECT_ERROR(write_random_gguf(m, dir.file("missing-folder/x.gguf")), "missing-folder/x.gguf");
}

int main() { return harness::run_all(); }
