// Tramontane engine: the C++ API used by the Node addon and the native tools.
// No Node inside. Every failure is a tramontane::Error with a one-line message.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tramontane {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by Session::feed and Session::reuse when their cancel flag was set: the check
// runs between prefill steps (at most 64 tokens each on the CPU, a chunk on the GPU),
// and the session keeps the steps already computed.
class Cancelled : public Error {
 public:
  using Error::Error;
};

// Auto (a load option only): CUDA when the build has it and a CUDA device is present,
// else the CPU. Model::backend() reports the one chosen, never Auto.
enum class BackendKind { Cpu, Cuda, Auto };

// Element type of the CPU backend's KV cache (cpu/kv_buffer.h); the CUDA cache is f16.
// Auto (a load option only): f16 where an f32 cache would take more than 64 KiB per
// token (Mistral 7B: 256 KiB), where memory and the bytes attention reads per token
// count; f32, exact, for small models, whose caches cost little either way.
enum class KvCacheType { F32, F16, Auto };

// Where the attention weights came from decides how q/k rows are laid out for RoPE.
enum class RopeLayout {
  RotateHalf,   // HF transformers: pairs (i, i + head_dim/2)
  Interleaved,  // Mistral consolidated: pairs (2i, 2i + 1)
};

// The feed-forward block of every layer, which the model family decides.
enum class FeedForwardKind {
  Dense,             // one SwiGLU MLP (Mistral, Codestral)
  MixtureOfExperts,  // a router picks n_experts_per_token of n_experts SwiGLU MLPs (Mixtral)
};

struct ModelConfig {
  int vocab_size = 0;
  int dim = 0;             // hidden_size
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;        // explicit, may differ from dim / n_heads
  int hidden_dim = 0;      // MLP intermediate size (of each expert)
  FeedForwardKind feed_forward = FeedForwardKind::Dense;
  int n_experts = 0;            // MixtureOfExperts only
  int n_experts_per_token = 0;  // MixtureOfExperts only
  int sliding_window = 0;  // 0 = full causal attention
  int max_position = 0;    // max_position_embeddings (0 if unknown)
  float rope_theta = 10000.f;
  float norm_eps = 1e-5f;
  bool tie_embeddings = false;
  RopeLayout rope_layout = RopeLayout::RotateHalf;
  int bos_id = 1;
  int eos_id = 2;
  // A GGUF file with Mistral 7B v0.1's shape that carries no sliding window (its
  // converter drops it) and none was supplied: the model runs without one.
  bool window_missing = false;
};

struct LoadOptions {
  BackendKind backend = BackendKind::Cpu;
  int threads = 0;  // 0 = hardware concurrency
  // A sliding window for a GGUF file that carries none (files converted from Mistral 7B
  // v0.1 omit its 4096); 0 = as the file says. Ignored where the model has one.
  int sliding_window = 0;
  KvCacheType kv_cache = KvCacheType::Auto;  // the CPU backend's (see KvCacheType)
  // Called with a fraction in [0, 1] while weights are read and prepared.
  std::function<void(float)> on_progress;
};

struct SessionOptions {
  int slack = 256;    // extra cache slots beyond the window: exact rollback distance
  int chunk = 512;    // prefill chunk size (tokens per forward call; a cancellable
                      // prefill on the CPU runs in steps of at most 64)
  int context = 0;    // cache length for models without a window; 0 = model default:
                      // min(max_position_embeddings, 32768). Ignored with a window.
  // Greedy generation (temperature 0 or top_k 1) through the backend's decode fast path
  // where it has one (CUDA: a captured decode-step graph with the argmax on the device,
  // no logits copied per token). Same tokens either way; false forces the plain path.
  bool fast_greedy = true;
  // Generation drafts up to this many tokens from the context (prompt lookup,
  // engine/draft.h) and verifies them in one forward pass, fewer steps where text
  // repeats. Greedy: the same tokens as plain decoding. Sampled: speculative sampling
  // (engine/sampler.h), the same distribution as plain sampling, though not the same
  // draws for a given seed. 0 turns drafting off. Capped by the slack (rejected drafts
  // are rolled back exactly within it) and by the backend's single-step batch (CUDA: 7
  // drafts, so that a verification runs on the decode kernels).
  int max_draft = 8;
};

struct ReuseStats {
  size_t reused = 0;    // tokens kept from what the session held
  size_t computed = 0;  // tokens run through the model
};

struct SamplingParams {
  float temperature = 0.f;  // 0 = greedy
  int top_k = 0;            // 0 = off
  float top_p = 1.f;        // 1 = off
  uint64_t seed = 0;
  int max_tokens = 128;
  std::vector<int> stop_tokens;          // in addition to the model's EOS
  std::vector<std::string> stop_strings; // text is cut before the first match
  // Whether the output starts a text, so the first token's leading space is dropped as
  // SentencePiece decoding does (chat answers). False when it continues text mid-line
  // (code completion after a prefix, a resumed generation): the space is kept.
  bool text_start = true;
  // Token healing (engine/heal.h): the prompt's last token, taken off it by the caller.
  // The first token is picked among those whose text begins with this token's text, and
  // the output leaves that text out. −1: none.
  int heal_token = -1;
};

enum class FinishReason { Length, StopToken, StopString, Cancelled };

struct GenerateResult {
  std::vector<int> tokens;
  std::string text;
  FinishReason finish = FinishReason::Length;
  // Forward passes run for the generated tokens, drafted tokens verified, and the drafts
  // the model agreed with that are in `tokens` (each cost no step of its own): steps +
  // accepted == tokens.size().
  int steps = 0;
  int drafted = 0;
  int accepted = 0;
};

// Called for each streamed piece of text (always whole UTF-8 characters).
// Return false to stop generating.
using OnText = std::function<bool(const std::string& piece)>;

class Tokenizer;
class Session;

class Model : public std::enable_shared_from_this<Model> {
 public:
  // dir holds config.json + *.safetensors (HF) or params.json + consolidated.safetensors
  // (or its shards consolidated-0000N-of-0000M.safetensors), and optionally tokenizer.json / tokenizer.model; or it is a .gguf file, or a folder
  // holding one.
  static std::shared_ptr<Model> load(const std::string& dir, const LoadOptions& options);
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual BackendKind backend() const = 0;
  // Null when the directory has no tokenizer (logits-only use).
  virtual const Tokenizer* tokenizer() const = 0;
  virtual std::unique_ptr<Session> new_session(const SessionOptions& options) = 0;
};

// A sequence of tokens with its KV cache. Not thread-safe: one caller at a time.
class Session {
 public:
  virtual ~Session() = default;

  virtual const std::vector<int>& tokens() const = 0;
  virtual int window() const = 0;    // 0 = no sliding window
  virtual int capacity() const = 0;  // cache slots C

  // Append tokens and run them through the model in chunks. If logits is non-null it
  // receives n * vocab_size floats, one row per fed token. The last row is always kept
  // in last_logits(). Given a cancel flag, feeds in steps of at most 64 tokens on the
  // CPU (a chunk on the GPU) and checks it between steps: when set, throws Cancelled
  // and the session keeps the steps already computed. Bad ids and a full window-less context
  // ("context full") are rejected before any work.
  virtual void feed(const int* tokens, size_t n, float* logits,
                    const std::atomic<bool>* cancel = nullptr) = 0;
  // The logits after the last held token; null only while the session is empty.
  virtual const float* last_logits() const = 0;

  // Shrink to `length` tokens: exact within the slack, otherwise re-prefills.
  // Returns the number of tokens recomputed: 0 when nothing is cut or length is 0; 1
  // within the slack (the last kept token, to refresh last_logits()); `length` beyond.
  virtual size_t rollback(size_t length) = 0;

  // Keep the longest common prefix with prompt, compute only the rest. A prompt the
  // session already holds in full recomputes its last token (computed = 1) so that
  // last_logits() belongs to it. reused + computed == prompt.size().
  virtual ReuseStats reuse(const std::vector<int>& prompt,
                           const std::atomic<bool>* cancel = nullptr) = 0;

  // Sample from last_logits(), feed each sampled token, stream text. Afterwards the
  // session holds the prompt plus result.tokens (stop tokens are not included). A
  // window-less session whose context is full stops with FinishReason::Length.
  virtual GenerateResult generate(const SamplingParams& params, const OnText& on_text,
                                  const std::atomic<bool>* cancel = nullptr) = 0;
};

const char* finish_reason_name(FinishReason reason);

}  // namespace tramontane
