// Per-environment constructors, so native code can create JS Model/Session objects.
#pragma once

#include <napi.h>

namespace tramontane::addon {

struct AddonData {
  Napi::FunctionReference model_constructor;
  Napi::FunctionReference session_constructor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace tramontane::addon
