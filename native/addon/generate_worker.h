// session.generate(params, onText): samples tokens off the main thread and streams
// each whole-character piece of text to onText, in order.
#pragma once

#include <napi.h>

#include <memory>

#include "session_state.h"

namespace tramontane::addon {

Napi::Value StartGenerate(const Napi::CallbackInfo& info, std::shared_ptr<SessionState> state);

}  // namespace tramontane::addon
