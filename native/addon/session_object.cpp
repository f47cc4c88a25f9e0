#include "session_object.h"

#include <cstring>

#include "addon_data.h"
#include "errors.h"
#include "generate_worker.h"
#include "session_task.h"

namespace tramontane::addon {

std::vector<int> read_token_array(Napi::Env env, Napi::Value value, int vocab_size);

Napi::Function SessionObject::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&SessionObject::Tokens>("tokens"),
                         InstanceMethod<&SessionObject::Window>("window"),
                         InstanceMethod<&SessionObject::Capacity>("capacity"),
                         InstanceMethod<&SessionObject::Busy>("busy"),
                         InstanceMethod<&SessionObject::Feed>("feed"),
                         InstanceMethod<&SessionObject::LastLogits>("lastLogits"),
                         InstanceMethod<&SessionObject::Rollback>("rollback"),
                         InstanceMethod<&SessionObject::Reuse>("reuse"),
                         InstanceMethod<&SessionObject::Generate>("generate"),
                         InstanceMethod<&SessionObject::Cancel>("cancel"),
                         InstanceMethod<&SessionObject::Dispose>("dispose"),
                     });
}

Napi::Object SessionObject::Wrap(Napi::Env env, std::shared_ptr<Model> model,
                                 std::unique_ptr<Session> session) {
  Napi::Object object = addon_data(env).session_constructor.New({});
  auto state = std::make_shared<SessionState>();
  state->model = std::move(model);
  state->session = std::move(session);
  SessionObject::Unwrap(object)->state_ = std::move(state);
  return object;
}

SessionObject::SessionObject(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<SessionObject>(info) {}

std::shared_ptr<SessionState> SessionObject::ready(Napi::Env env) const {
  if (!state_) throw Napi::Error::New(env, "the session has been disposed");
  if (state_->busy) {
    throw Napi::Error::New(env, "the session is busy: wait for the previous call to settle");
  }
  return state_;
}

static std::shared_ptr<SessionState> alive(Napi::Env env, const std::shared_ptr<SessionState>& s) {
  if (!s) throw Napi::Error::New(env, "the session has been disposed");
  return s;
}

Napi::Value SessionObject::Tokens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<int>& tokens = alive(env, state_)->session->tokens();
  Napi::Array out = Napi::Array::New(env, tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) out.Set(uint32_t(i), tokens[i]);
  return out;
}

Napi::Value SessionObject::Window(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), alive(info.Env(), state_)->session->window());
}

Napi::Value SessionObject::Capacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), alive(info.Env(), state_)->session->capacity());
}

Napi::Value SessionObject::Busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_ && state_->busy);
}

// feed(tokens, {logits?: boolean}) → Promise<Float32Array | undefined>
Napi::Value SessionObject::Feed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<SessionState> state = ready(env);
  int vocab = state->model->config().vocab_size;
  auto tokens = std::make_shared<std::vector<int>>(
      read_token_array(env, info.Length() > 0 ? info[0] : env.Undefined(), vocab));
  bool want_logits = info.Length() > 1 && info[1].IsObject() &&
                     info[1].As<Napi::Object>().Get("logits").ToBoolean().Value();
  auto logits = std::make_shared<std::vector<float>>();
  auto* task = new SessionTask(
      env, state,
      [tokens, logits, want_logits, vocab](Session& session, const std::atomic<bool>& cancel) {
        if (want_logits) logits->resize(tokens->size() * size_t(vocab));
        session.feed(tokens->data(), tokens->size(), want_logits ? logits->data() : nullptr,
                     &cancel);
      },
      [logits, want_logits](Napi::Env env) -> Napi::Value {
        if (!want_logits) return env.Undefined();
        Napi::Float32Array out = Napi::Float32Array::New(env, logits->size());
        std::memcpy(out.Data(), logits->data(), logits->size() * sizeof(float));
        return out;
      });
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

Napi::Value SessionObject::LastLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<SessionState> state = ready(env);
  if (state->session->tokens().empty()) return env.Null();
  size_t vocab = size_t(state->model->config().vocab_size);
  Napi::Float32Array out = Napi::Float32Array::New(env, vocab);
  std::memcpy(out.Data(), state->session->last_logits(), vocab * sizeof(float));
  return out;
}

// rollback(length) → Promise<number of tokens recomputed>
Napi::Value SessionObject::Rollback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<SessionState> state = ready(env);
  double length = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(length >= 0) || length != double(size_t(length))) {
    throw Napi::RangeError::New(env, "rollback(length): length must be a non-negative integer");
  }
  auto recomputed = std::make_shared<size_t>(0);
  auto* task = new SessionTask(
      env, state,
      [recomputed, length](Session& session, const std::atomic<bool>&) {
        *recomputed = session.rollback(size_t(length));
      },
      [recomputed](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(*recomputed)); });
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

// reuse(prompt) → Promise<{reused, computed}>
Napi::Value SessionObject::Reuse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<SessionState> state = ready(env);
  auto prompt = std::make_shared<std::vector<int>>(read_token_array(
      env, info.Length() > 0 ? info[0] : env.Undefined(), state->model->config().vocab_size));
  auto stats = std::make_shared<ReuseStats>();
  auto* task = new SessionTask(
      env, state,
      [prompt, stats](Session& session, const std::atomic<bool>& cancel) {
        *stats = session.reuse(*prompt, &cancel);
      },
      [stats](Napi::Env env) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("reused", double(stats->reused));
        out.Set("computed", double(stats->computed));
        return out;
      });
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

// generate({temperature, topK, topP, seed, maxTokens, stopTokens, stop}, onText)
//   → Promise<{tokens, text, finish}>
Napi::Value SessionObject::Generate(const Napi::CallbackInfo& info) {
  std::shared_ptr<SessionState> state = ready(info.Env());
  if (state->session->tokens().empty()) {
    throw Napi::Error::New(info.Env(), "generate: feed a prompt first");
  }
  return StartGenerate(info, std::move(state));
}

// Stops the call in flight within one token (or one prefill step: 64 tokens on the CPU).
Napi::Value SessionObject::Cancel(const Napi::CallbackInfo& info) {
  if (state_ && state_->busy) state_->cancel = true;
  return info.Env().Undefined();
}

// Idempotent. A call in flight is cancelled; its worker frees the session when done.
Napi::Value SessionObject::Dispose(const Napi::CallbackInfo& info) {
  if (state_) {
    state_->cancel = true;
    state_.reset();
  }
  return info.Env().Undefined();
}

}  // namespace tramontane::addon
