#include "busway/router/transformer.hpp"

#include "busway/util/text.hpp"

namespace busway {

void TransformerRegistry::add(std::string kind, Factory factory) {
  std::lock_guard lock(mutex_);
  factories_[std::move(kind)] = std::move(factory);
}

std::vector<std::string> TransformerRegistry::kinds() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [kind, unused] : factories_) out.push_back(kind);
  return out;
}

Result<std::shared_ptr<const Transformer>> TransformerRegistry::create(
    std::string_view kind, const std::map<std::string, std::string>& options) const {
  Factory factory;
  {
    std::lock_guard lock(mutex_);
    const auto it = factories_.find(kind);
    if (it != factories_.end()) factory = it->second;
  }
  if (!factory) {
    const auto known = kinds();
    return Error(ErrorKind::invalid,
                 "unknown transformer '" + std::string(kind) + "'" + didYouMean(kind, known) +
                     (known.empty() ? "; no transformer plugins are installed" : ""));
  }
  return factory(options);
}

}  // namespace busway
