// Errors carried with context. Every failure that a user can cause (a malformed file, a missing tensor, an
// impossible option) is thrown as octet::Error with a one-line message that names the file and/or tensor; the
// CLI prints it as "octet: error: <message>" and exits non-zero. Library code never calls exit() or abort() on
// untrusted input.
#ifndef OCTET_UTIL_ERROR_H_
#define OCTET_UTIL_ERROR_H_

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace octet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws octet::Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void Fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Runs `body`; if it throws octet::Error, rethrows with `context: ` prepended (e.g. the file being read).
template <typename Body>
auto WithContext(const std::string& context, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace octet

#endif  // OCTET_UTIL_ERROR_H_
