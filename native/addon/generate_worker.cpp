#include "generate_worker.h"

#include <string>

#include "errors.h"

namespace tramontane::addon {
namespace {

class GenerateWorker : public Napi::AsyncProgressQueueWorker<char> {
 public:
  GenerateWorker(Napi::Env env, std::shared_ptr<SessionState> state, SamplingParams params,
                 Napi::Function on_text)
      : Napi::AsyncProgressQueueWorker<char>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        params_(std::move(params)) {
    if (!on_text.IsEmpty()) on_text_ = Napi::Persistent(on_text);
    state_->busy = true;
    state_->cancel = false;
  }

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    try {
      result_ = state_->session->generate(
          params_,
          [&progress](const std::string& piece) {
            if (!piece.empty()) progress.Send(piece.data(), piece.size());
            return true;
          },
          &state_->cancel);
    } catch (const std::exception& e) {
      SetError(describe(e));
    }
  }

  void OnProgress(const char* data, size_t count) override {
    if (on_text_.IsEmpty()) return;
    Napi::HandleScope scope(Env());
    on_text_.Call({Napi::String::New(Env(), data, count)});
  }

  void OnOK() override {
    state_->busy = false;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object out = Napi::Object::New(env);
    Napi::Array tokens = Napi::Array::New(env, result_.tokens.size());
    for (size_t i = 0; i < result_.tokens.size(); ++i) tokens.Set(uint32_t(i), result_.tokens[i]);
    out.Set("tokens", tokens);
    out.Set("text", Napi::String::New(env, result_.text));
    out.Set("finish", finish_reason_name(result_.finish));
    out.Set("steps", result_.steps);
    out.Set("drafted", result_.drafted);
    out.Set("accepted", result_.accepted);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override {
    state_->busy = false;
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_text_;
  std::shared_ptr<SessionState> state_;
  SamplingParams params_;
  GenerateResult result_;
};

double number_or(Napi::Object options, const char* name, double fallback) {
  Napi::Value value = options.Get(name);
  return value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : fallback;
}

SamplingParams read_params(Napi::Env env, Napi::Value value) {
  SamplingParams params;
  if (!value.IsObject()) return params;
  Napi::Object options = value.As<Napi::Object>();
  params.temperature = float(number_or(options, "temperature", params.temperature));
  params.top_k = int(number_or(options, "topK", params.top_k));
  params.top_p = float(number_or(options, "topP", params.top_p));
  params.seed = uint64_t(number_or(options, "seed", 0));
  params.max_tokens = int(number_or(options, "maxTokens", params.max_tokens));
  if (params.temperature < 0) throw Napi::RangeError::New(env, "temperature must be ≥ 0");
  if (params.top_k < 0) throw Napi::RangeError::New(env, "topK must be ≥ 0");
  if (!(params.top_p > 0 && params.top_p <= 1)) throw Napi::RangeError::New(env, "topP must be in (0, 1]");
  if (params.max_tokens < 0) throw Napi::RangeError::New(env, "maxTokens must be ≥ 0");
  Napi::Value text_start = options.Get("textStart");
  if (text_start.IsBoolean()) params.text_start = text_start.As<Napi::Boolean>().Value();
  Napi::Value heal_token = options.Get("healToken");
  if (!heal_token.IsUndefined()) {
    const double id = heal_token.IsNumber() ? heal_token.As<Napi::Number>().DoubleValue() : -1;
    if (!(id >= 0 && id <= 2147483647.0) || id != static_cast<int>(id)) {
      throw Napi::RangeError::New(env, "healToken must be a token id (an integer ≥ 0)");
    }
    params.heal_token = static_cast<int>(id);
  }
  Napi::Value stop_tokens = options.Get("stopTokens");
  if (stop_tokens.IsArray()) {
    Napi::Array array = stop_tokens.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      params.stop_tokens.push_back(array.Get(i).As<Napi::Number>().Int32Value());
    }
  }
  Napi::Value stop_strings = options.Get("stop");
  if (stop_strings.IsArray()) {
    Napi::Array array = stop_strings.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      std::string stop = array.Get(i).ToString();
      if (!stop.empty()) params.stop_strings.push_back(stop);
    }
  }
  return params;
}

}  // namespace

Napi::Value StartGenerate(const Napi::CallbackInfo& info, std::shared_ptr<SessionState> state) {
  Napi::Env env = info.Env();
  SamplingParams params = read_params(env, info.Length() > 0 ? info[0] : env.Undefined());
  Napi::Function on_text;
  if (info.Length() > 1 && info[1].IsFunction()) on_text = info[1].As<Napi::Function>();
  auto* worker = new GenerateWorker(env, std::move(state), std::move(params), on_text);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace tramontane::addon
