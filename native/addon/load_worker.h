// loadModel(dir, options, onProgress): reads and validates weights off the main thread.
#pragma once

#include <napi.h>

namespace tramontane::addon {

Napi::Value LoadModel(const Napi::CallbackInfo& info);

}  // namespace tramontane::addon
