// One slow session call (feed, rollback, reuse) run off the main thread, settling a
// promise. The session is marked busy for the duration, so calls never overlap.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "errors.h"
#include "session_state.h"

namespace tramontane::addon {

class SessionTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<void(Session&, const std::atomic<bool>&)>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  SessionTask(Napi::Env env, std::shared_ptr<SessionState> state, Work work, Result result)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        work_(std::move(work)),
        result_(std::move(result)) {
    state_->busy = true;
    state_->cancel = false;
  }

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_(*state_->session, state_->cancel);
    } catch (const std::exception& e) {
      SetError(describe(e));
    }
  }

  void OnOK() override {
    state_->busy = false;
    Napi::HandleScope scope(Env());
    deferred_.Resolve(result_(Env()));
  }

  void OnError(const Napi::Error& error) override {
    state_->busy = false;
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SessionState> state_;
  Work work_;
  Result result_;
};

}  // namespace tramontane::addon
