// Turns native failures into JS Errors with the engine's one-line message.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace tramontane::addon {

// Runs `body`, rethrowing any C++ exception as a JS Error.
template <typename Body>
auto guard(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

inline std::string describe(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "out of memory";
  return e.what();
}

}  // namespace tramontane::addon
