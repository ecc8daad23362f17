#include "busway/transform/json_schema.hpp"

#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "transform_steps.hpp"

namespace busway {
namespace fs = std::filesystem;
using nlohmann::json;

std::string SchemaViolation::toString() const {
  return (path.empty() ? std::string("/") : path) + ": " + message;
}

namespace {

enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kString = 32,
  kInteger = 64,
};

struct SchemaLoadError {
  std::string message;
};

struct Node {
  bool never = false;  // the schema `false`
  unsigned types = 0;  // 0: any
  const Node* ref = nullptr;
  std::vector<std::string> required;
  std::map<std::string, const Node*> properties;
  bool additional_allowed = true;
  const Node* additional = nullptr;
  const Node* items = nullptr;
  std::optional<std::size_t> min_items, max_items;
  bool unique_items = false;
  std::optional<std::vector<json>> enumeration;
  std::optional<json> constant;
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
  std::optional<std::size_t> min_length, max_length;
  std::optional<std::regex> pattern;
  std::string pattern_text;
  std::string format;
  std::vector<const Node*> all_of, any_of, one_of;
  const Node* negated = nullptr;
};

std::string typeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "unknown";
  }
}

bool isInteger(const json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return true;
  if (!value.is_number_float()) return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool hasType(unsigned types, const json& value) {
  if (types == 0) return true;
  switch (value.type()) {
    case json::value_t::null: return types & kNull;
    case json::value_t::boolean: return types & kBoolean;
    case json::value_t::object: return types & kObject;
    case json::value_t::array: return types & kArray;
    case json::value_t::string: return types & kString;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return (types & kNumber) || ((types & kInteger) && isInteger(value));
    default: return false;
  }
}

std::string typesText(unsigned types) {
  static const std::pair<unsigned, const char*> kNames[] = {
      {kNull, "null"},     {kBoolean, "boolean"}, {kObject, "object"},  {kArray, "array"},
      {kNumber, "number"}, {kString, "string"},   {kInteger, "integer"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (types & bit) out += (out.empty() ? "" : " or ") + std::string(name);
  }
  return out;
}

std::string escapePointer(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::size_t codePoints(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool validDate(int year, int month, int day) {
  if (month < 1 || month > 12 || day < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

bool checkFormat(const std::string& format, const std::string& text) {
  static const std::regex kDate(R"(^(\d{4})-(\d{2})-(\d{2})$)");
  static const std::regex kTime(R"(^(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$)");
  static const std::regex kDateTime(
      R"(^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$)");
  static const std::regex kEmail(R"(^[^@\s]+@[^@\s]+\.[^@\s]+$)");
  std::smatch m;
  const auto num = [&m](std::size_t i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
  const auto timeOk = [&](std::size_t h, std::size_t offset_h) {
    return num(h) < 24 && num(h + 1) < 60 && num(h + 2) <= 60 && num(offset_h) < 24 &&
           num(offset_h + 1) < 60;
  };
  if (format == "date")
    return std::regex_match(text, m, kDate) && validDate(num(1), num(2), num(3));
  if (format == "time") return std::regex_match(text, m, kTime) && timeOk(1, 6);
  if (format == "date-time")
    return std::regex_match(text, m, kDateTime) && validDate(num(1), num(2), num(3)) &&
           timeOk(4, 9);
  if (format == "email") return std::regex_match(text, kEmail);
  return true;  // other formats are annotations
}

std::string shortJson(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

struct JsonSchema::Impl {
  std::deque<Node> nodes;
  std::map<std::string, json> documents;  // file -> parsed
  std::map<std::string, Node*> compiled;  // file#pointer -> node
  const Node* root = nullptr;

  [[noreturn]] static void fail(const std::string& file, const std::string& pointer,
                                const std::string& message) {
    throw SchemaLoadError{file + (pointer.empty() ? "" : " at " + pointer) + ": " + message};
  }

  const json& document(const std::string& file) {
    const auto it = documents.find(file);
    if (it != documents.end()) return it->second;
    std::string error;
    auto text = transform::readFile(file, error);
    if (!text) throw SchemaLoadError{"cannot read schema '" + file + "': " + error};
    json parsed = json::parse(*text, nullptr, false);
    if (parsed.is_discarded()) throw SchemaLoadError{"schema '" + file + "' is not valid JSON"};
    return documents.emplace(file, std::move(parsed)).first->second;
  }

  const Node* resolveRef(const std::string& ref, const std::string& file,
                         const std::string& pointer) {
    const auto hash = ref.find('#');
    const std::string target_file_part = ref.substr(0, hash);
    const std::string fragment = hash == std::string::npos ? "" : ref.substr(hash + 1);
    std::string target_file = file;
    if (!target_file_part.empty()) {
      if (target_file_part.find("://") != std::string::npos)
        fail(file, pointer, "$ref '" + ref + "': only local files can be referred to");
      target_file = (fs::path(file).parent_path() / target_file_part).lexically_normal().string();
    }
    if (!fragment.empty() && fragment[0] != '/')
      fail(file, pointer,
           "$ref '" + ref + "': only JSON pointer fragments (#/$defs/name) are supported");
    const json& doc = document(target_file);
    json::json_pointer json_pointer;
    try {
      json_pointer = json::json_pointer(fragment);
    } catch (const json::exception&) {
      fail(file, pointer, "$ref '" + ref + "' is not a valid JSON pointer");
    }
    if (!doc.contains(json_pointer)) fail(file, pointer, "$ref '" + ref + "' points at nothing");
    return compile(doc.at(json_pointer), target_file, fragment);
  }

  static double number(const json& value, const std::string& file, const std::string& pointer,
                       const char* keyword) {
    if (!value.is_number()) fail(file, pointer, std::string(keyword) + " must be a number");
    return value.get<double>();
  }
  static std::size_t count(const json& value, const std::string& file, const std::string& pointer,
                           const char* keyword) {
    if (!value.is_number_unsigned() &&
        !(value.is_number_integer() && value.get<std::int64_t>() >= 0)) {
      fail(file, pointer, std::string(keyword) + " must be a non-negative integer");
    }
    return value.get<std::size_t>();
  }

  std::vector<const Node*> list(const json& value, const std::string& file,
                                const std::string& pointer, const char* keyword) {
    if (!value.is_array() || value.empty())
      fail(file, pointer, std::string(keyword) + " must be a non-empty array of schemas");
    std::vector<const Node*> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      out.push_back(compile(value[i], file, pointer + "/" + keyword + "/" + std::to_string(i)));
    }
    return out;
  }

  const Node* compile(const json& schema, const std::string& file, const std::string& pointer) {
    const std::string key = file + "#" + pointer;
    if (const auto it = compiled.find(key); it != compiled.end()) return it->second;
    Node& node = nodes.emplace_back();
    compiled.emplace(key, &node);
    if (schema.is_boolean()) {
      node.never = !schema.get<bool>();
      return &node;
    }
    if (!schema.is_object()) fail(file, pointer, "a schema must be an object or a boolean");
    static const std::set<std::string> kAnnotations = {"$schema",        "$id",
                                                       "$comment",       "title",
                                                       "description",    "default",
                                                       "examples",       "deprecated",
                                                       "readOnly",       "writeOnly",
                                                       "$defs",          "definitions",
                                                       "$anchor",        "contentMediaType",
                                                       "contentEncoding"};
    for (const auto& [keyword, value] : schema.items()) {
      const std::string at = pointer + "/" + escapePointer(keyword);
      if (keyword == "type") {
        const auto bit = [&](const json& name) -> unsigned {
          static const std::map<std::string, unsigned> kBits = {
              {"null", kNull},     {"boolean", kBoolean}, {"object", kObject},  {"array", kArray},
              {"number", kNumber}, {"string", kString},   {"integer", kInteger}};
          const auto it = name.is_string() ? kBits.find(name.get<std::string>()) : kBits.end();
          if (it == kBits.end()) fail(file, at, "unknown type " + name.dump());
          return it->second;
        };
        if (value.is_array()) {
          for (const auto& t : value) node.types |= bit(t);
        } else {
          node.types = bit(value);
        }
      } else if (keyword == "$ref") {
        if (!value.is_string()) fail(file, at, "$ref must be a string");
        node.ref = resolveRef(value.get<std::string>(), file, at);
      } else if (keyword == "required") {
        if (!value.is_array()) fail(file, at, "required must be an array of property names");
        for (const auto& name : value) {
          if (!name.is_string()) fail(file, at, "required must be an array of property names");
          node.required.push_back(name.get<std::string>());
        }
      } else if (keyword == "properties") {
        if (!value.is_object()) fail(file, at, "properties must be an object");
        for (const auto& [name, sub] : value.items())
          node.properties.emplace(name, compile(sub, file, at + "/" + escapePointer(name)));
      } else if (keyword == "additionalProperties") {
        if (value.is_boolean())
          node.additional_allowed = value.get<bool>();
        else
          node.additional = compile(value, file, at);
      } else if (keyword == "items") {
        node.items = compile(value, file, at);
      } else if (keyword == "minItems") {
        node.min_items = count(value, file, at, "minItems");
      } else if (keyword == "maxItems") {
        node.max_items = count(value, file, at, "maxItems");
      } else if (keyword == "uniqueItems") {
        node.unique_items = value.is_boolean() && value.get<bool>();
      } else if (keyword == "enum") {
        if (!value.is_array()) fail(file, at, "enum must be an array");
        node.enumeration = value.get<std::vector<json>>();
      } else if (keyword == "const") {
        node.constant = value;
      } else if (keyword == "minimum") {
        node.minimum = number(value, file, at, "minimum");
      } else if (keyword == "maximum") {
        node.maximum = number(value, file, at, "maximum");
      } else if (keyword == "exclusiveMinimum") {
        node.exclusive_minimum = number(value, file, at, "exclusiveMinimum");
      } else if (keyword == "exclusiveMaximum") {
        node.exclusive_maximum = number(value, file, at, "exclusiveMaximum");
      } else if (keyword == "multipleOf") {
        node.multiple_of = number(value, file, at, "multipleOf");
        if (*node.multiple_of <= 0) fail(file, at, "multipleOf must be greater than 0");
      } else if (keyword == "minLength") {
        node.min_length = count(value, file, at, "minLength");
      } else if (keyword == "maxLength") {
        node.max_length = count(value, file, at, "maxLength");
      } else if (keyword == "pattern") {
        if (!value.is_string()) fail(file, at, "pattern must be a string");
        node.pattern_text = value.get<std::string>();
        try {
          node.pattern.emplace(node.pattern_text, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          fail(
              file, at,
              "pattern '" + node.pattern_text + "' is not a valid regular expression: " + e.what());
        }
      } else if (keyword == "format") {
        if (!value.is_string()) fail(file, at, "format must be a string");
        node.format = value.get<std::string>();
      } else if (keyword == "allOf") {
        node.all_of = list(value, file, pointer, "allOf");
      } else if (keyword == "anyOf") {
        node.any_of = list(value, file, pointer, "anyOf");
      } else if (keyword == "oneOf") {
        node.one_of = list(value, file, pointer, "oneOf");
      } else if (keyword == "not") {
        node.negated = compile(value, file, at);
      } else if (kAnnotations.count(keyword) == 0) {
        fail(file, at,
             "keyword '" + keyword +
                 "' is not supported by busway's validator (see docs/canonical-model.md for the "
                 "subset)");
      }
    }
    return &node;
  }

  void check(const Node& node, const json& value, const std::string& path,
             std::vector<SchemaViolation>& out) const {
    if (node.never) {
      out.push_back({path, "is not allowed here"});
      return;
    }
    if (node.ref != nullptr) check(*node.ref, value, path, out);
    if (!hasType(node.types, value)) {
      out.push_back({path, "must be " + typesText(node.types) + ", not " + typeName(value)});
      return;
    }
    if (node.enumeration) {
      bool found = false;
      for (const auto& candidate : *node.enumeration) found = found || candidate == value;
      if (!found) {
        std::string list;
        for (const auto& candidate : *node.enumeration)
          list += (list.empty() ? "" : ", ") + candidate.dump();
        out.push_back({path, "must be one of " + list + ", not " + shortJson(value)});
      }
    }
    if (node.constant && *node.constant != value)
      out.push_back({path, "must be " + shortJson(*node.constant)});
    if (value.is_number()) {
      const double d = value.get<double>();
      const auto text = [](double v) { return json(v).dump(); };
      if (node.minimum && d < *node.minimum)
        out.push_back({path, "must be >= " + text(*node.minimum) + ", not " + value.dump()});
      if (node.maximum && d > *node.maximum)
        out.push_back({path, "must be <= " + text(*node.maximum) + ", not " + value.dump()});
      if (node.exclusive_minimum && d <= *node.exclusive_minimum) {
        out.push_back(
            {path, "must be > " + text(*node.exclusive_minimum) + ", not " + value.dump()});
      }
      if (node.exclusive_maximum && d >= *node.exclusive_maximum) {
        out.push_back(
            {path, "must be < " + text(*node.exclusive_maximum) + ", not " + value.dump()});
      }
      if (node.multiple_of) {
        const double q = d / *node.multiple_of;
        if (std::fabs(q - std::round(q)) > 1e-9 * std::max(1.0, std::fabs(q))) {
          out.push_back(
              {path, "must be a multiple of " + text(*node.multiple_of) + ", not " + value.dump()});
        }
      }
    }
    if (value.is_string()) {
      const auto& text = value.get_ref<const std::string&>();
      const std::size_t length = codePoints(text);
      if (node.min_length && length < *node.min_length) {
        out.push_back({path, "must be at least " + std::to_string(*node.min_length) +
                                 " characters long, not " + std::to_string(length)});
      }
      if (node.max_length && length > *node.max_length) {
        out.push_back({path, "must be at most " + std::to_string(*node.max_length) +
                                 " characters long, not " + std::to_string(length)});
      }
      if (node.pattern && !std::regex_search(text, *node.pattern)) {
        out.push_back(
            {path, "must match the pattern " + node.pattern_text + ", not " + shortJson(value)});
      }
      if (!node.format.empty() && !checkFormat(node.format, text)) {
        out.push_back({path, "must be a valid " + node.format + ", not " + shortJson(value)});
      }
    }
    if (value.is_array()) {
      if (node.min_items && value.size() < *node.min_items) {
        out.push_back({path, "must have at least " + std::to_string(*node.min_items) +
                                 " item(s), not " + std::to_string(value.size())});
      }
      if (node.max_items && value.size() > *node.max_items) {
        out.push_back({path, "must have at most " + std::to_string(*node.max_items) +
                                 " item(s), not " + std::to_string(value.size())});
      }
      if (node.unique_items) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          for (std::size_t j = i + 1; j < value.size(); ++j) {
            if (value[i] == value[j])
              out.push_back({path, "items " + std::to_string(i) + " and " + std::to_string(j) +
                                       " are equal; items must be unique"});
          }
        }
      }
      if (node.items != nullptr) {
        for (std::size_t i = 0; i < value.size(); ++i)
          check(*node.items, value[i], path + "/" + std::to_string(i), out);
      }
    }
    if (value.is_object()) {
      for (const auto& name : node.required) {
        if (!value.contains(name))
          out.push_back({path, "required property '" + name + "' is missing"});
      }
      for (const auto& [name, member] : value.items()) {
        const std::string at = path + "/" + escapePointer(name);
        const auto it = node.properties.find(name);
        if (it != node.properties.end()) {
          check(*it->second, member, at, out);
        } else if (node.additional != nullptr) {
          check(*node.additional, member, at, out);
        } else if (!node.additional_allowed) {
          out.push_back(
              {at, "property '" + name + "' is not allowed (additionalProperties is false)"});
        }
      }
    }
    for (const Node* sub : node.all_of) check(*sub, value, path, out);
    if (!node.any_of.empty()) {
      std::vector<SchemaViolation> first;
      bool matched = false;
      for (const Node* sub : node.any_of) {
        std::vector<SchemaViolation> branch;
        check(*sub, value, path, branch);
        if (branch.empty()) {
          matched = true;
          break;
        }
        if (first.empty()) first = std::move(branch);
      }
      if (!matched)
        out.push_back({path, "must match one of the anyOf schemas (the first says: " +
                                 first.front().toString() + ")"});
    }
    if (!node.one_of.empty()) {
      std::size_t matches = 0;
      for (const Node* sub : node.one_of) {
        std::vector<SchemaViolation> branch;
        check(*sub, value, path, branch);
        if (branch.empty()) ++matches;
      }
      if (matches != 1)
        out.push_back({path, "must match exactly one of the oneOf schemas, matches " +
                                 std::to_string(matches)});
    }
    if (node.negated != nullptr) {
      std::vector<SchemaViolation> branch;
      check(*node.negated, value, path, branch);
      if (branch.empty()) out.push_back({path, "must not match the schema under 'not'"});
    }
  }
};

JsonSchema::JsonSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonSchema::~JsonSchema() = default;

Result<std::shared_ptr<const JsonSchema>> JsonSchema::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  try {
    const std::string file = fs::path(path).lexically_normal().string();
    impl->root = impl->compile(impl->document(file), file, "");
  } catch (const SchemaLoadError& e) {
    return Error(ErrorKind::invalid, e.message);
  }
  return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(impl)));
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::fromJson(const json& schema,
                                                               const std::string& base_dir) {
  auto impl = std::make_unique<Impl>();
  const std::string file = (fs::path(base_dir) / "(inline schema)").lexically_normal().string();
  try {
    impl->documents.emplace(file, schema);
    impl->root = impl->compile(impl->documents.at(file), file, "");
  } catch (const SchemaLoadError& e) {
    return Error(ErrorKind::invalid, e.message);
  }
  return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(impl)));
}

std::vector<SchemaViolation> JsonSchema::validate(const json& document) const {
  std::vector<SchemaViolation> out;
  impl_->check(*impl_->root, document, "", out);
  return out;
}

}  // namespace busway
