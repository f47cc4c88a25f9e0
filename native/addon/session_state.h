// What a JS Session and its in-flight worker share. The worker holds a reference, so
// disposing the JS object while a call runs frees the session only when the call ends.
#pragma once

#include <atomic>
#include <memory>

#include "tramontane/engine.h"

namespace tramontane::addon {

struct SessionState {
  std::shared_ptr<Model> model;  // keeps the weights alive while the session lives
  std::unique_ptr<Session> session;
  std::atomic<bool> cancel{false};
  bool busy = false;  // touched on the main thread only
};

}  // namespace tramontane::addon
