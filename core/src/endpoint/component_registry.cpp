#include "busway/endpoint/component_registry.hpp"

#include "busway/util/text.hpp"

namespace busway {

const char* toString(OptionSpec::Type type) noexcept {
  switch (type) {
    case OptionSpec::Type::string: return "string";
    case OptionSpec::Type::integer: return "integer";
    case OptionSpec::Type::boolean: return "boolean";
    case OptionSpec::Type::duration: return "duration";
    case OptionSpec::Type::size: return "size";
    case OptionSpec::Type::enumeration: return "enum";
  }
  return "string";
}

Result<void> ComponentRegistry::add(std::shared_ptr<Component> component, std::string origin) {
  std::lock_guard lock(mutex_);
  const std::string scheme(component->scheme());
  const auto it = components_.find(scheme);
  if (it != components_.end()) {
    return Error(ErrorKind::invalid, "scheme '" + scheme + "' is offered by both " +
                                         it->second.origin + " and " + origin +
                                         "; remove one of them");
  }
  components_.emplace(scheme, Entry{std::move(component), std::move(origin)});
  return {};
}

Component* ComponentRegistry::find(std::string_view scheme) const {
  std::lock_guard lock(mutex_);
  const auto it = components_.find(scheme);
  return it == components_.end() ? nullptr : it->second.component.get();
}

std::vector<std::string> ComponentRegistry::schemes() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [scheme, unused] : components_) out.push_back(scheme);
  return out;
}

std::size_t ComponentRegistry::pendingMessages() const {
  std::lock_guard lock(mutex_);
  std::size_t total = 0;
  for (const auto& [scheme, entry] : components_) total += entry.component->pendingMessages();
  return total;
}

Result<EndpointPtr> ComponentRegistry::resolve(std::string_view text) {
  auto uri = Uri::parse(text);
  if (!uri) return std::move(uri).error();
  return resolve(*uri);
}

Result<EndpointPtr> ComponentRegistry::resolve(const Uri& uri) {
  Component* component = find(uri.scheme);
  if (component == nullptr) {
    return Error(ErrorKind::invalid, "no component for scheme '" + uri.scheme + "'" +
                                         didYouMean(uri.scheme, schemes()) +
                                         "; is its plugin installed?");
  }
  if (auto checked = checkOptions(uri, component->options()); !checked)
    return std::move(checked).error();
  return component->resolve(uri, context_);
}

Result<void> checkOptions(const Uri& uri, const std::vector<OptionSpec>& specs) {
  std::vector<std::string> names;
  names.reserve(specs.size());
  for (const auto& spec : specs) names.push_back(spec.name);
  for (const auto& [name, value] : uri.options) {
    const OptionSpec* spec = nullptr;
    for (const auto& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      return Error(ErrorKind::invalid, "unknown option '" + name + "' for " + uri.scheme + ":" +
                                           didYouMean(name, names));
    }
    bool ok = true;
    std::string expected;
    switch (spec->type) {
      case OptionSpec::Type::string: break;
      case OptionSpec::Type::integer:
        ok = parseInteger(value).has_value();
        expected = "an integer";
        break;
      case OptionSpec::Type::boolean:
        ok = parseBoolean(value).has_value();
        expected = "true or false";
        break;
      case OptionSpec::Type::duration:
        ok = parseDuration(value).has_value();
        expected = "a duration such as 250ms, 5s or 2m";
        break;
      case OptionSpec::Type::size:
        ok = parseSize(value).has_value();
        expected = "a size such as 512, 64KB or 10MB";
        break;
      case OptionSpec::Type::enumeration: {
        ok = false;
        expected = "one of";
        for (const auto& choice : spec->choices) {
          ok = ok || choice == value;
          expected += " " + choice;
        }
        break;
      }
    }
    if (!ok) {
      return Error(ErrorKind::invalid, "option '" + name + "' of " + uri.scheme + ": is '" + value +
                                           "', expected " + expected);
    }
  }
  for (const auto& spec : specs) {
    if (spec.required && uri.option(spec.name) == nullptr) {
      return Error(ErrorKind::invalid, "missing required option '" + spec.name + "' for " +
                                           uri.scheme + ": (" + spec.doc + ")");
    }
  }
  return {};
}

namespace {
const std::string& valueOf(const Uri& uri, const std::vector<OptionSpec>& specs,
                           std::string_view name) {
  if (const auto* value = uri.option(name)) return *value;
  for (const auto& spec : specs) {
    if (spec.name == name) return spec.default_value;
  }
  static const std::string kEmpty;
  return kEmpty;
}
}  // namespace

std::string UriOptions::text(std::string_view name) const { return valueOf(uri_, specs_, name); }
std::int64_t UriOptions::integer(std::string_view name) const {
  return parseInteger(valueOf(uri_, specs_, name)).value_or(0);
}
bool UriOptions::boolean(std::string_view name) const {
  return parseBoolean(valueOf(uri_, specs_, name)).value_or(false);
}
std::chrono::milliseconds UriOptions::duration(std::string_view name) const {
  return parseDuration(valueOf(uri_, specs_, name)).value_or(std::chrono::milliseconds(0));
}
std::uint64_t UriOptions::size(std::string_view name) const {
  return parseSize(valueOf(uri_, specs_, name)).value_or(0);
}

}  // namespace busway
