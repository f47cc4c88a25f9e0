#include "load_worker.h"

#include <string>

#include "errors.h"
#include "model_object.h"
#include "tramontane/engine.h"

namespace tramontane::addon {
namespace {

class LoadWorker : public Napi::AsyncProgressQueueWorker<float> {
 public:
  LoadWorker(Napi::Env env, std::string dir, LoadOptions options, Napi::Function on_progress)
      : Napi::AsyncProgressQueueWorker<float>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        dir_(std::move(dir)),
        options_(std::move(options)) {
    if (!on_progress.IsEmpty()) on_progress_ = Napi::Persistent(on_progress);
  }

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    options_.on_progress = [&progress](float fraction) { progress.Send(&fraction, 1); };
    try {
      model_ = Model::load(dir_, options_);
    } catch (const std::exception& e) {
      SetError(describe(e));
    }
    options_.on_progress = nullptr;
  }

  void OnProgress(const float* data, size_t count) override {
    if (on_progress_.IsEmpty() || count == 0) return;
    Napi::HandleScope scope(Env());
    on_progress_.Call({Napi::Number::New(Env(), data[count - 1])});
  }

  void OnOK() override { deferred_.Resolve(ModelObject::Wrap(Env(), std::move(model_))); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_progress_;
  std::string dir_;
  LoadOptions options_;
  std::shared_ptr<Model> model_;
};

BackendKind parse_backend(Napi::Env env, const std::string& name) {
  if (name == "auto") return BackendKind::Auto;
  if (name == "cpu") return BackendKind::Cpu;
  if (name == "cuda") return BackendKind::Cuda;
  throw Napi::TypeError::New(env, "unknown backend '" + name + "' (expected auto, cpu or cuda)");
}

}  // namespace

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "loadModel(dir, options?, onProgress?): dir must be a string");
  }
  LoadOptions options;
  options.backend = BackendKind::Auto;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object opts = info[1].As<Napi::Object>();
    if (opts.Has("backend") && opts.Get("backend").IsString()) {
      options.backend = parse_backend(env, opts.Get("backend").As<Napi::String>());
    }
    if (opts.Has("threads") && opts.Get("threads").IsNumber()) {
      options.threads = opts.Get("threads").As<Napi::Number>().Int32Value();
    }
    if (opts.Has("slidingWindow") && opts.Get("slidingWindow").IsNumber()) {
      const double window = opts.Get("slidingWindow").As<Napi::Number>().DoubleValue();
      if (!(window >= 0 && window <= (1 << 24)) || window != double(int(window))) {
        throw Napi::RangeError::New(env, "slidingWindow must be an integer between 0 and 16777216");
      }
      options.sliding_window = int(window);
    }
  }
  Napi::Function on_progress;
  if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();

  auto* worker = new LoadWorker(env, info[0].As<Napi::String>(), options, on_progress);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace tramontane::addon
