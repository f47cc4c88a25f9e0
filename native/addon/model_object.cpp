#include "model_object.h"

#include "addon_data.h"
#include "errors.h"
#include "session_object.h"
#include "tramontane/tokenizer.h"

namespace tramontane::addon {

Napi::Function ModelObject::Define(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&ModelObject::Config>("config"),
                         InstanceMethod<&ModelObject::Backend>("backend"),
                         InstanceMethod<&ModelObject::HasTokenizer>("hasTokenizer"),
                         InstanceMethod<&ModelObject::Tokenize>("tokenize"),
                         InstanceMethod<&ModelObject::Detokenize>("detokenize"),
                         InstanceMethod<&ModelObject::TokenId>("tokenId"),
                         InstanceMethod<&ModelObject::CreateSession>("createSession"),
                         InstanceMethod<&ModelObject::Dispose>("dispose"),
                     });
}

Napi::Object ModelObject::Wrap(Napi::Env env, std::shared_ptr<Model> model) {
  Napi::Object object = addon_data(env).model_constructor.New({});
  ModelObject::Unwrap(object)->model_ = std::move(model);
  return object;
}

ModelObject::ModelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelObject>(info) {}

std::shared_ptr<Model> ModelObject::model(Napi::Env env) const {
  if (!model_) throw Napi::Error::New(env, "the model has been disposed");
  return model_;
}

Napi::Value ModelObject::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelConfig& c = model(env)->config();
  Napi::Object out = Napi::Object::New(env);
  out.Set("vocabSize", c.vocab_size);
  out.Set("dim", c.dim);
  out.Set("layers", c.n_layers);
  out.Set("heads", c.n_heads);
  out.Set("kvHeads", c.n_kv_heads);
  out.Set("headDim", c.head_dim);
  out.Set("hiddenDim", c.hidden_dim);
  out.Set("slidingWindow", c.sliding_window);
  out.Set("maxPosition", c.max_position);
  out.Set("ropeTheta", c.rope_theta);
  out.Set("tiedEmbeddings", c.tie_embeddings);
  out.Set("ropeLayout", c.rope_layout == RopeLayout::Interleaved ? "interleaved" : "rotate-half");
  out.Set("bosId", c.bos_id);
  out.Set("eosId", c.eos_id);
  out.Set("windowMissing", c.window_missing);
  return out;
}

Napi::Value ModelObject::Backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(),
                           model(info.Env())->backend() == BackendKind::Cuda ? "cuda" : "cpu");
}

Napi::Value ModelObject::HasTokenizer(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), model(info.Env())->tokenizer() != nullptr);
}

static const Tokenizer& require_tokenizer(Napi::Env env, const Model& model) {
  const Tokenizer* tokenizer = model.tokenizer();
  if (!tokenizer) {
    throw Napi::Error::New(env, "this model directory has no tokenizer.json or tokenizer.model");
  }
  return *tokenizer;
}

static bool option(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (info.Length() <= index || !info[index].IsObject()) return false;
  Napi::Value value = info[index].As<Napi::Object>().Get(name);
  return value.IsBoolean() && value.As<Napi::Boolean>().Value();
}

// tokenize(text, {bos?, special?}) → number[]. Fast enough (≈ms) to stay synchronous.
Napi::Value ModelObject::Tokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "tokenize(text): text must be a string");
  }
  std::shared_ptr<Model> held = model(env);
  const Tokenizer& tokenizer = require_tokenizer(env, *held);
  std::vector<int> ids = guard(env, [&] {
    return tokenizer.encode(info[0].As<Napi::String>(), option(info, 1, "bos"),
                            option(info, 1, "special"));
  });
  Napi::Array out = Napi::Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out.Set(uint32_t(i), ids[i]);
  return out;
}

std::vector<int> read_token_array(Napi::Env env, Napi::Value value, int vocab_size) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "tokens must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int> ids(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    double id = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
    if (!(id >= 0 && id < vocab_size) || id != static_cast<int>(id)) {
      throw Napi::RangeError::New(env, "token " + std::to_string(i) + " is not an id in [0, " +
                                           std::to_string(vocab_size) + ")");
    }
    ids[i] = static_cast<int>(id);
  }
  return ids;
}

// detokenize(ids, {special?}) → string
Napi::Value ModelObject::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> held = model(env);
  const Tokenizer& tokenizer = require_tokenizer(env, *held);
  if (info.Length() < 1) throw Napi::TypeError::New(env, "detokenize(ids): ids required");
  std::vector<int> ids = read_token_array(env, info[0], tokenizer.vocab_size());
  return Napi::String::New(
      env, guard(env, [&] { return tokenizer.decode(ids, option(info, 1, "special")); }));
}

// tokenId(piece) → number | -1
Napi::Value ModelObject::TokenId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> held = model(env);
  const Tokenizer& tokenizer = require_tokenizer(env, *held);
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "tokenId(piece): piece must be a string");
  }
  return Napi::Number::New(env, tokenizer.token_id(info[0].As<Napi::String>()));
}

static int int_option(Napi::Object options, const char* name, int fallback) {
  Napi::Value value = options.Get(name);
  return value.IsNumber() ? value.As<Napi::Number>().Int32Value() : fallback;
}

// createSession({slack?, chunk?, context?, maxDraft?}) → Session
Napi::Value ModelObject::CreateSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Model> held = model(env);
  SessionOptions options;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object opts = info[0].As<Napi::Object>();
    options.slack = int_option(opts, "slack", options.slack);
    options.chunk = int_option(opts, "chunk", options.chunk);
    options.context = int_option(opts, "context", options.context);
    options.max_draft = int_option(opts, "maxDraft", options.max_draft);
  }
  if (options.slack < 0) throw Napi::RangeError::New(env, "slack must be ≥ 0");
  if (options.chunk < 1) throw Napi::RangeError::New(env, "chunk must be ≥ 1");
  if (options.context < 0) throw Napi::RangeError::New(env, "context must be ≥ 0");
  if (options.max_draft < 0) throw Napi::RangeError::New(env, "maxDraft must be ≥ 0");
  std::unique_ptr<Session> session = guard(env, [&] { return held->new_session(options); });
  return SessionObject::Wrap(env, held, std::move(session));
}

// Idempotent. Sessions keep the weights alive until they are disposed too.
Napi::Value ModelObject::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  return info.Env().Undefined();
}

}  // namespace tramontane::addon
