// JS class Model: a loaded model, its tokenizer, and a factory for sessions.
#pragma once

#include <napi.h>

#include <memory>

#include "tramontane/engine.h"

namespace tramontane::addon {

class ModelObject : public Napi::ObjectWrap<ModelObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Model> model);

  explicit ModelObject(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<Model> model(Napi::Env env) const;

  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Backend(const Napi::CallbackInfo& info);
  Napi::Value HasTokenizer(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenId(const Napi::CallbackInfo& info);
  Napi::Value CreateSession(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> model_;
};

}  // namespace tramontane::addon
