// The plugin manifest: parsing with a check of every field, and the canonical JSON form.
// The rules here and schemas/plugin-manifest-1.schema.json describe the same format; change
// both together.
#include "busway/plugin/manifest.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "busway/util/text.hpp"

namespace busway {
namespace {

using Json = nlohmann::json;
// Keys in the order people expect to read them, not alphabetical.
using OrderedJson = nlohmann::ordered_json;

constexpr int kManifestVersion = 1;
// Ids, schemes and names end up in URIs, file names and metric names: keep them short.
constexpr std::size_t kMaxNameLength = 64;

const std::vector<std::string> kTopKeys = {
    "manifest_version", "id",  "name",      "version", "vendor",       "license", "description",
    "status",           "abi", "endpoints", "formats", "transformers", "config"};
const std::vector<std::string> kAbiKeys = {"major", "minor"};
const std::vector<std::string> kEndpointKeys = {"scheme",        "consumer", "producer",
                                                "inline_routes", "doc",      "options"};
const std::vector<std::string> kOfferKeys = {"name", "doc", "options"};
const std::vector<std::string> kOptionKeys = {"name",    "type",     "choices",
                                              "default", "required", "doc"};
const std::vector<std::string> kStatuses = {"stable", "beta", "experimental"};
const std::vector<std::string> kTypeNames = {"string",   "integer", "boolean",
                                             "duration", "size",    "enum"};

bool isLowerOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// [a-z0-9][a-z0-9-]*
bool isPluginId(std::string_view s) {
  if (s.empty() || !isLowerOrDigit(s[0])) return false;
  for (const char c : s) {
    if (!isLowerOrDigit(c) && c != '-') return false;
  }
  return true;
}

// [a-z][a-z0-9+.-]* (RFC 3986 schemes, lower case only so matching is exact)
bool isScheme(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (const char c : s) {
    if (!isLowerOrDigit(c) && c != '+' && c != '.' && c != '-') return false;
  }
  return true;
}

// [a-z][a-z0-9._-]* for format and transformer names (used in routing tables).
bool isOfferName(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (const char c : s) {
    if (!isLowerOrDigit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// [A-Za-z][A-Za-z0-9._-]* for option names (URI query keys).
bool isOptionName(std::string_view s) {
  if (s.empty() || !isLetter(s[0])) return false;
  for (const char c : s) {
    if (!isLetter(c) && !(c >= '0' && c <= '9') && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

const char* jsonTypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number with a fraction";
    case Json::value_t::binary: return "binary data";
    case Json::value_t::discarded: return "nothing";
  }
  return "something else";
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string item(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::optional<OptionSpec::Type> typeFromName(std::string_view name) {
  if (name == "string") return OptionSpec::Type::string;
  if (name == "integer") return OptionSpec::Type::integer;
  if (name == "boolean") return OptionSpec::Type::boolean;
  if (name == "duration") return OptionSpec::Type::duration;
  if (name == "size") return OptionSpec::Type::size;
  if (name == "enum") return OptionSpec::Type::enumeration;
  return std::nullopt;
}

std::string listOf(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

// Walks the JSON and keeps the first problem found. Later calls after a failure are
// harmless no-ops, so the parsing code below reads top to bottom without early returns
// after every field.
class Checker {
 public:
  bool ok() const { return !error_.has_value(); }
  Error error() const { return Error(ErrorKind::invalid, *error_); }

  void fail(const std::string& field, const std::string& problem) {
    if (!error_) error_ = "field '" + field + "': " + problem;
  }

  // `value` must be an object whose keys are all in `allowed`.
  bool object(const Json& value, const std::string& path, const std::vector<std::string>& allowed) {
    if (!ok()) return false;
    if (!value.is_object()) {
      fail(path.empty() ? "(top level)" : path,
           std::string("expected an object, found ") + jsonTypeName(value));
      return false;
    }
    for (const auto& [key, unused] : value.items()) {
      bool known = false;
      for (const auto& a : allowed) known = known || a == key;
      if (!known) {
        fail(join(path, key), "unknown field" + didYouMean(key, allowed) +
                                  "; the fields here are " + listOf(allowed));
        return false;
      }
    }
    return true;
  }

  // A string field; empty when absent and not required.
  std::string text(const Json& parent, const std::string& path, const std::string& key,
                   bool required) {
    if (!ok()) return {};
    const auto it = parent.find(key);
    if (it == parent.end()) {
      if (required) fail(join(path, key), "is required");
      return {};
    }
    if (!it->is_string()) {
      fail(join(path, key), std::string("expected a string, found ") + jsonTypeName(*it));
      return {};
    }
    auto value = it->get<std::string>();
    if (required && value.empty()) fail(join(path, key), "must not be empty");
    return value;
  }

  // A name-like string field: required, checked against `valid`, at most kMaxNameLength.
  std::string name(const Json& parent, const std::string& path, const std::string& key,
                   bool (*valid)(std::string_view), const std::string& rule) {
    auto value = text(parent, path, key, true);
    if (!ok()) return value;
    if (!valid(value)) {
      fail(join(path, key), "'" + value + "' is not valid: " + rule);
    } else if (value.size() > kMaxNameLength) {
      fail(join(path, key),
           "'" + value + "' is longer than " + std::to_string(kMaxNameLength) + " characters");
    }
    return value;
  }

  bool boolean(const Json& parent, const std::string& path, const std::string& key) {
    if (!ok()) return false;
    const auto it = parent.find(key);
    if (it == parent.end()) return false;
    if (!it->is_boolean()) {
      fail(join(path, key), std::string("expected true or false, found ") + jsonTypeName(*it));
      return false;
    }
    return it->get<bool>();
  }

  std::uint32_t count(const Json& parent, const std::string& path, const std::string& key) {
    if (!ok()) return 0;
    const auto it = parent.find(key);
    if (it == parent.end()) {
      fail(join(path, key), "is required");
      return 0;
    }
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > UINT32_MAX) {
      fail(join(path, key), std::string("expected a non-negative integer, found ") +
                                (it->is_number() ? it->dump() : jsonTypeName(*it)));
      return 0;
    }
    return static_cast<std::uint32_t>(it->get<std::int64_t>());
  }

  // An optional array field; nullptr when absent (or on error).
  const Json* array(const Json& parent, const std::string& path, const std::string& key) {
    if (!ok()) return nullptr;
    const auto it = parent.find(key);
    if (it == parent.end()) return nullptr;
    if (!it->is_array()) {
      fail(join(path, key), std::string("expected an array, found ") + jsonTypeName(*it));
      return nullptr;
    }
    return &*it;
  }

 private:
  std::optional<std::string> error_;
};

// Whether `value` is acceptable for an option of `spec`'s type (the same rules that check
// endpoint URIs), and if not, what was expected.
std::optional<std::string> valueProblem(const OptionSpec& spec, const std::string& value) {
  switch (spec.type) {
    case OptionSpec::Type::string: return std::nullopt;
    case OptionSpec::Type::integer:
      if (parseInteger(value)) return std::nullopt;
      return "an integer";
    case OptionSpec::Type::boolean:
      if (parseBoolean(value)) return std::nullopt;
      return "true or false";
    case OptionSpec::Type::duration:
      if (parseDuration(value)) return std::nullopt;
      return "a duration such as 250ms, 5s or 2m";
    case OptionSpec::Type::size:
      if (parseSize(value)) return std::nullopt;
      return "a size such as 512, 64KB or 10MB";
    case OptionSpec::Type::enumeration:
      for (const auto& choice : spec.choices) {
        if (choice == value) return std::nullopt;
      }
      return "one of " + listOf(spec.choices);
  }
  return std::nullopt;
}

std::vector<OptionSpec> parseOptions(Checker& check, const Json& parent, const std::string& path,
                                     const std::string& key) {
  std::vector<OptionSpec> options;
  const Json* list = check.array(parent, path, key);
  if (list == nullptr) return options;
  const std::string list_path = join(path, key);
  for (std::size_t i = 0; i < list->size() && check.ok(); ++i) {
    const Json& o = (*list)[i];
    const std::string at = item(list_path, i);
    if (!check.object(o, at, kOptionKeys)) break;
    OptionSpec spec;
    spec.name =
        check.name(o, at, "name", isOptionName,
                   "an option name starts with a letter and has letters, digits, '.', '_' or '-'");
    const std::string type = check.text(o, at, "type", true);
    if (!check.ok()) break;
    if (const auto t = typeFromName(type)) {
      spec.type = *t;
    } else {
      check.fail(join(at, "type"), "'" + type + "' is not an option type" +
                                       didYouMean(type, kTypeNames) + "; use " +
                                       listOf(kTypeNames));
      break;
    }
    if (const Json* choices = check.array(o, at, "choices")) {
      if (spec.type != OptionSpec::Type::enumeration) {
        check.fail(join(at, "choices"),
                   "only options of type enum have choices (this one is " + type + ")");
        break;
      }
      for (std::size_t c = 0; c < choices->size(); ++c) {
        const Json& choice = (*choices)[c];
        if (!choice.is_string() || choice.get<std::string>().empty()) {
          check.fail(item(join(at, "choices"), c),
                     std::string("expected a non-empty string, found ") +
                         (choice.is_string() ? "an empty one" : jsonTypeName(choice)));
          break;
        }
        for (const auto& earlier : spec.choices) {
          if (earlier == choice.get<std::string>()) {
            check.fail(item(join(at, "choices"), c), "'" + earlier + "' is listed twice");
          }
        }
        spec.choices.push_back(choice.get<std::string>());
      }
    }
    if (check.ok() && spec.type == OptionSpec::Type::enumeration && spec.choices.empty()) {
      check.fail(join(at, "choices"), "an option of type enum needs a non-empty list of choices");
    }
    if (!check.ok()) break;
    if (const auto d = o.find("default"); d != o.end()) {
      spec.has_default = true;
      if (d->is_string()) {
        spec.default_value = d->get<std::string>();
      } else if (d->is_boolean()) {
        spec.default_value = d->get<bool>() ? "true" : "false";
      } else if (d->is_number()) {
        spec.default_value = d->dump();
      } else {
        check.fail(join(at, "default"),
                   std::string("expected a string, number or boolean, found ") + jsonTypeName(*d));
        break;
      }
      if (const auto expected = valueProblem(spec, spec.default_value)) {
        check.fail(join(at, "default"), "'" + spec.default_value + "' is not a valid " + type +
                                            ": expected " + *expected);
        break;
      }
    }
    spec.required = check.boolean(o, at, "required");
    if (spec.required && !spec.default_value.empty()) {
      check.fail(join(at, "required"),
                 "a required option cannot have a default (it is never missing); drop one of them");
    }
    spec.doc = check.text(o, at, "doc", false);
    for (const auto& earlier : options) {
      if (check.ok() && earlier.name == spec.name) {
        check.fail(join(at, "name"), "option '" + spec.name + "' is declared twice");
      }
    }
    options.push_back(std::move(spec));
  }
  return options;
}

std::vector<PluginManifest::Offer> parseOffers(Checker& check, const Json& root,
                                               const std::string& key) {
  std::vector<PluginManifest::Offer> offers;
  const Json* list = check.array(root, "", key);
  if (list == nullptr) return offers;
  const bool endpoints = key == "endpoints";
  for (std::size_t i = 0; i < list->size() && check.ok(); ++i) {
    const Json& o = (*list)[i];
    const std::string at = item(key, i);
    if (!check.object(o, at, endpoints ? kEndpointKeys : kOfferKeys)) break;
    PluginManifest::Offer offer;
    if (endpoints) {
      offer.name = check.name(
          o, at, "scheme", isScheme,
          "a URI scheme is lower case, starts with a letter and has letters, digits, '+', '.' "
          "or '-' (for example acme-erp)");
      offer.consumer = check.boolean(o, at, "consumer");
      offer.producer = check.boolean(o, at, "producer");
      offer.inline_routes = check.boolean(o, at, "inline_routes");
      if (check.ok() && !offer.consumer && !offer.producer) {
        check.fail(at,
                   "endpoint '" + offer.name +
                       "' is neither a consumer nor a producer; set \"consumer\": true "
                       "(it can start a route) and/or \"producer\": true (routes can send to it)");
      }
      if (check.ok() && offer.inline_routes && !offer.consumer) {
        check.fail(join(at, "inline_routes"),
                   "endpoint '" + offer.name +
                       "' runs routes inline but is not a consumer; remove \"inline_routes\" "
                       "or set \"consumer\": true");
      }
    } else {
      offer.name = check.name(
          o, at, "name", isOfferName,
          "a name is lower case, starts with a letter and has letters, digits, '.', '_' or '-'");
    }
    offer.doc = check.text(o, at, "doc", false);
    offer.options = parseOptions(check, o, at, "options");
    for (const auto& earlier : offers) {
      if (check.ok() && earlier.name == offer.name) {
        check.fail(join(at, endpoints ? "scheme" : "name"),
                   "'" + offer.name + "' is offered twice in " + key);
      }
    }
    offers.push_back(std::move(offer));
  }
  return offers;
}

OrderedJson optionsToJson(const std::vector<OptionSpec>& options) {
  OrderedJson out = OrderedJson::array();
  for (const auto& spec : options) {
    OrderedJson o;
    o["name"] = spec.name;
    o["type"] = toString(spec.type);
    if (spec.type == OptionSpec::Type::enumeration) o["choices"] = spec.choices;
    if (spec.has_default || !spec.default_value.empty()) {
      // Typed where the type allows it, so the JSON reads naturally; text otherwise.
      // (Plain values rather than std::optional: g++ 12 -O2 warns falsely on the latter.)
      o["default"] = spec.default_value;
      if (spec.type == OptionSpec::Type::integer) {
        if (const auto integer = parseInteger(spec.default_value)) {
          const std::int64_t value = *integer;
          if (std::to_string(value) == spec.default_value) o["default"] = value;
        }
      } else if (spec.type == OptionSpec::Type::boolean &&
                 (spec.default_value == "true" || spec.default_value == "false")) {
        o["default"] = spec.default_value == "true";
      }
    }
    o["required"] = spec.required;
    o["doc"] = spec.doc;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

Result<PluginManifest> PluginManifest::fromJson(const std::string& text) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& e) {
    // what() starts with "[json.exception.parse_error.101] "; people need only the rest.
    std::string what = e.what();
    if (const auto end = what.find("] ");
        what.rfind("[json.exception", 0) == 0 && end != std::string::npos) {
      what.erase(0, end + 2);
    }
    return Error(ErrorKind::invalid, "not valid JSON: " + what);
  }

  Checker check;
  PluginManifest m;
  if (!check.object(root, "", kTopKeys)) return check.error();

  const auto version_it = root.find("manifest_version");
  if (version_it == root.end()) {
    check.fail("manifest_version", "is required (it is 1 for this format)");
  } else if (!version_it->is_number_integer()) {
    check.fail("manifest_version",
               std::string("expected the integer 1, found ") + jsonTypeName(*version_it));
  } else if (version_it->get<std::int64_t>() != kManifestVersion) {
    check.fail("manifest_version",
               "is " + version_it->dump() + " but this busway reads manifest version " +
                   std::to_string(kManifestVersion) +
                   "; upgrade busway, or rebuild the plugin with this busway's SDK");
  }
  m.manifest_version = kManifestVersion;

  m.id = check.name(
      root, "", "id", isPluginId,
      "a plugin id is lower case letters, digits and '-', starting with a letter or digit (for "
      "example acme-erp)");
  m.name = check.text(root, "", "name", true);
  m.version = check.text(root, "", "version", true);
  m.vendor = check.text(root, "", "vendor", false);
  m.license = check.text(root, "", "license", false);
  m.description = check.text(root, "", "description", false);
  m.status = check.text(root, "", "status", true);
  if (check.ok()) {
    bool known = false;
    for (const auto& s : kStatuses) known = known || s == m.status;
    if (!known)
      check.fail("status", "'" + m.status + "' is not a status" + didYouMean(m.status, kStatuses) +
                               "; use " + listOf(kStatuses));
  }

  if (check.ok()) {
    const auto abi = root.find("abi");
    if (abi == root.end()) {
      check.fail(
          "abi",
          "is required: the plugin ABI the file was built for, e.g. {\"major\": 1, \"minor\": 0}");
    } else if (check.object(*abi, "abi", kAbiKeys)) {
      m.abi_major = check.count(*abi, "abi", "major");
      m.abi_minor = check.count(*abi, "abi", "minor");
      if (check.ok() && m.abi_major == 0)
        check.fail("abi.major", "must be at least 1 (the first plugin ABI is 1.0)");
    }
  }

  m.endpoints = parseOffers(check, root, "endpoints");
  m.formats = parseOffers(check, root, "formats");
  m.transformers = parseOffers(check, root, "transformers");
  m.config = parseOptions(check, root, "", "config");
  if (check.ok() && m.endpoints.empty() && m.formats.empty() && m.transformers.empty()) {
    check.fail("endpoints",
               "the plugin offers nothing: list at least one endpoint, format or transformer");
  }
  if (!check.ok()) return check.error();
  return m;
}

std::string PluginManifest::toJson() const {
  OrderedJson out;
  out["manifest_version"] = manifest_version;
  out["id"] = id;
  out["name"] = name;
  out["version"] = version;
  out["vendor"] = vendor;
  out["license"] = license;
  out["description"] = description;
  out["status"] = status;
  out["abi"] = {{"major", abi_major}, {"minor", abi_minor}};
  OrderedJson endpoint_list = OrderedJson::array();
  for (const auto& e : endpoints) {
    OrderedJson o;
    o["scheme"] = e.name;
    o["consumer"] = e.consumer;
    o["producer"] = e.producer;
    if (e.inline_routes) o["inline_routes"] = true;
    o["doc"] = e.doc;
    o["options"] = optionsToJson(e.options);
    endpoint_list.push_back(std::move(o));
  }
  out["endpoints"] = std::move(endpoint_list);
  for (const auto* key : {"formats", "transformers"}) {
    const auto& offers = std::string_view(key) == "formats" ? formats : transformers;
    OrderedJson list = OrderedJson::array();
    for (const auto& f : offers) {
      OrderedJson o;
      o["name"] = f.name;
      o["doc"] = f.doc;
      o["options"] = optionsToJson(f.options);
      list.push_back(std::move(o));
    }
    out[key] = std::move(list);
  }
  out["config"] = optionsToJson(config);
  // Replace rather than throw on invalid UTF-8 (a manifest built in code, not parsed).
  return out.dump(2, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

}  // namespace busway
