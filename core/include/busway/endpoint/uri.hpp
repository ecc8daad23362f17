#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "busway/util/result.hpp"

namespace busway {

// An endpoint URI: `scheme:path?option=value&option=value`. The scheme names the
// component (a core endpoint or a plugin); options are percent-decoded.
struct Uri {
  std::string text;    // as written
  std::string scheme;  // lower case
  std::string path;
  std::vector<std::pair<std::string, std::string>> options;

  static Result<Uri> parse(std::string_view text);

  const std::string* option(std::string_view name) const noexcept;
  // "scheme:path" without options: endpoints with the same key are the same channel.
  std::string key() const { return scheme + ':' + path; }
  // The key with the password of a `//user:password@host` part masked: how an endpoint is
  // named in history, logs and dead letters (option values may hold credentials too, and
  // are left out).
  std::string redacted() const { return redact(key()); }
  static std::string redact(std::string text_without_options);
};

}  // namespace busway
