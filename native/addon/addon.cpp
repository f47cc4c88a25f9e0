// The Node entry point: loadModel() plus the Model and Session classes.
#include <napi.h>

#include "addon_data.h"
#include "load_worker.h"
#include "model_object.h"
#include "session_object.h"

namespace tramontane::addon {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function model = ModelObject::Define(env);
  Napi::Function session = SessionObject::Define(env);
  data->model_constructor = Napi::Persistent(model);
  data->session_constructor = Napi::Persistent(session);
  env.SetInstanceData(data);

  exports.Set("loadModel", Napi::Function::New<LoadModel>(env, "loadModel"));
  exports.Set("Model", model);
  exports.Set("Session", session);
  return exports;
}

}  // namespace tramontane::addon

// NODE_API_MODULE pastes its second argument into an identifier: it must be unqualified.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return tramontane::addon::Init(env, exports);
}

NODE_API_MODULE(tramontane, InitModule)
