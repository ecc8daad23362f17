#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "busway/message/exchange.hpp"
#include "busway/util/result.hpp"

namespace busway {

// A named transformation of a message, run by <transform ref="..."/>. The transformation
// work (data formats, XSLT, mappings, plugins) registers kinds here; core ships none that
// need more than the message model.
class Transformer {
 public:
  virtual ~Transformer() = default;
  // Transforms the message in place. Thread-safe: one instance serves all exchanges.
  virtual Result<void> apply(Exchange& exchange) const = 0;
};

class TransformerRegistry {
 public:
  using Factory = std::function<Result<std::shared_ptr<const Transformer>>(
      const std::map<std::string, std::string>& options)>;

  void add(std::string kind, Factory factory);
  std::vector<std::string> kinds() const;
  Result<std::shared_ptr<const Transformer>> create(
      std::string_view kind, const std::map<std::string, std::string>& options) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Factory, std::less<>> factories_;
};

}  // namespace busway
