#include "cli.hpp"

namespace busway::cli {

bool Args::flag(const std::string& name) {
  for (auto it = args_.begin(); it != args_.end(); ++it) {
    if (*it == "--" + name) {
      args_.erase(it);
      return true;
    }
  }
  return false;
}

bool Args::option(const std::string& name, std::string& value) {
  const std::string dashed = "--" + name;
  for (auto it = args_.begin(); it != args_.end(); ++it) {
    if (*it == dashed) {
      if (it + 1 == args_.end()) {
        error_ = dashed + " needs a value";
        args_.erase(it);
        return false;
      }
      value = *(it + 1);
      args_.erase(it, it + 2);
      return true;
    }
    if (it->rfind(dashed + "=", 0) == 0) {
      value = it->substr(dashed.size() + 1);
      args_.erase(it);
      return true;
    }
  }
  return false;
}

std::vector<std::string> Args::positional() {
  std::vector<std::string> out;
  for (const auto& a : args_) {
    if (a.size() > 1 && a[0] == '-' && error_.empty()) {
      error_ = "unknown option '" + a + "' for 'busway " + command_ + "' (see busway " + command_ +
               " --help)";
    } else {
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace busway::cli
