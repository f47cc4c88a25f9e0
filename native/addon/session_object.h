// JS class Session: a token sequence with its rolling KV cache. Slow calls return
// promises and run off the main thread; one call at a time per session.
#pragma once

#include <napi.h>

#include <memory>

#include "session_state.h"

namespace tramontane::addon {

class SessionObject : public Napi::ObjectWrap<SessionObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<Model> model,
                           std::unique_ptr<Session> session);

  explicit SessionObject(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<SessionState> ready(Napi::Env env) const;  // throws if disposed or busy

  Napi::Value Tokens(const Napi::CallbackInfo& info);
  Napi::Value Window(const Napi::CallbackInfo& info);
  Napi::Value Capacity(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Feed(const Napi::CallbackInfo& info);
  Napi::Value LastLogits(const Napi::CallbackInfo& info);
  Napi::Value Rollback(const Napi::CallbackInfo& info);
  Napi::Value Reuse(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<SessionState> state_;
};

}  // namespace tramontane::addon
