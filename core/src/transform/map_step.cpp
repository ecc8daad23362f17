// <map input="json|xml" output="json|xml" root="Order" namespace="urn:..."> with <field>,
// <each> and <lookup> children: a declarative field mapping, compiled when the table loads.
//
//   <field target="customer.email" source="$.buyer.mail" type="string" required="true"/>
//   <field target="currency" constant="EUR"/>
//   <field target="customer.name" concat="$.buyer.first, $.buyer.last" separator=" "/>
//   <field target="channel" header="x-channel" default="web"/>
//   <field target="big" simple="$.total > 1000" type="bool"/>
//   <field target="country" source="$.ship.country" lookup="countries"/>
//   <field target="orderedAt" source="$.date" type="date" format="%d.%m.%Y"/>
//   <each source="$.items" target="lines" item="line"> ...fields relative to the item... </each>
//   <lookup name="countries" default="ZZ"><entry key="Deutschland" value="DE"/></lookup>
//
// Source paths are JSON paths ($.a.b[0]['c d'], [*]) for JSON input and XPath 1.0 for XML
// input; inside <each> they are relative to the item ($ or . is the item). Target paths
// are dotted names (customer.address.city); for XML output the last one may be @name (an
// attribute). header= and simple= read the whole message (headers, body), not the item.
#include <cmath>
#include <ctime>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "busway/expression/expression.hpp"
#include "busway/util/text.hpp"
#include "transform_steps.hpp"

namespace busway {
namespace {

using nlohmann::json;

enum class Type { none, string, integer, decimal, boolean, date, datetime };

struct Context {
  const json* json_item = nullptr;
  pugi::xml_node xml_item;
};

// A path into the source: a JSON path (names, indexes, [*]) or a compiled XPath query.
class SourcePath {
 public:
  struct Step {
    enum class Kind { key, index, wildcard } kind = Kind::key;
    std::string key;
    std::int64_t index = 0;
  };

  // Parses `text`; on error returns false with the offset and message.
  bool parse(const std::string& text, bool xml, std::size_t& offset, std::string& message) {
    text_ = text;
    if (xml) {
      try {
        xpath_ = std::make_shared<pugi::xpath_query>(text.c_str());
      } catch (const pugi::xpath_exception& e) {
        offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, e.result().offset));
        message = e.result().description();
        return false;
      }
      return true;
    }
    std::size_t i = 0;
    const auto fail = [&](const std::string& why) {
      offset = i;
      message = why;
      return false;
    };
    if (i < text.size() && text[i] == '$') ++i;
    bool first = true;
    while (i < text.size()) {
      Step step;
      if (text[i] == '.' || (first && text[0] != '$')) {
        if (text[i] == '.') ++i;
        if (i < text.size() && text[i] == '*') {
          step.kind = Step::Kind::wildcard;
          ++i;
        } else {
          const std::size_t start = i;
          while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
          if (i == start) return fail("a name is expected");
          step.key = text.substr(start, i - start);
        }
      } else if (text[i] == '[') {
        ++i;
        if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
          const char quote = text[i++];
          const std::size_t end = text.find(quote, i);
          if (end == std::string::npos) return fail("unterminated quoted name");
          step.key = text.substr(i, end - i);
          i = end + 1;
        } else if (i < text.size() && text[i] == '*') {
          step.kind = Step::Kind::wildcard;
          ++i;
        } else {
          const std::size_t start = i;
          if (i < text.size() && text[i] == '-') ++i;
          while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
          const auto index = parseInteger(std::string_view(text).substr(start, i - start));
          if (!index) return fail("an index, '*' or a quoted name is expected after '['");
          step.kind = Step::Kind::index;
          step.index = *index;
        }
        if (i >= text.size() || text[i] != ']') return fail("']' is expected");
        ++i;
      } else {
        return fail("'.' or '[' is expected");
      }
      first = false;
      steps_.push_back(std::move(step));
    }
    return true;
  }

  const std::string& text() const { return text_; }

  // The first value, or nullopt when nothing matches.
  std::optional<json> read(const Context& context) const {
    if (xpath_) {
      switch (xpath_->return_type()) {
        case pugi::xpath_type_node_set: {
          const auto nodes = xpath_->evaluate_node_set(context.xml_item);
          if (nodes.empty()) return std::nullopt;
          const auto& first = nodes.first();
          if (first.attribute()) return json(first.attribute().value());
          return json(textOf(first.node()));
        }
        case pugi::xpath_type_number: {
          const double d = xpath_->evaluate_number(context.xml_item);
          if (std::isnan(d)) return std::nullopt;
          if (std::floor(d) == d && std::fabs(d) < 9e15) return json(static_cast<std::int64_t>(d));
          return json(d);
        }
        case pugi::xpath_type_boolean: return json(xpath_->evaluate_boolean(context.xml_item));
        default: return json(xpath_->evaluate_string(context.xml_item));
      }
    }
    std::vector<const json*> found;
    collect(context.json_item, 0, found, true);
    if (found.empty() || found[0] == nullptr) return std::nullopt;
    return *found[0];
  }

  // Every item: for JSON, the matches (a single array match is its elements); for XML, the nodes.
  std::vector<Context> items(const Context& context) const {
    std::vector<Context> out;
    if (xpath_) {
      if (xpath_->return_type() != pugi::xpath_type_node_set) return out;
      for (const auto& node : xpath_->evaluate_node_set(context.xml_item)) {
        if (node.node()) out.push_back(Context{nullptr, node.node()});
      }
      return out;
    }
    std::vector<const json*> found;
    collect(context.json_item, 0, found, false);
    if (found.size() == 1 && found[0]->is_array()) {
      for (const auto& element : *found[0]) out.push_back(Context{&element, {}});
    } else {
      for (const json* value : found) out.push_back(Context{value, {}});
    }
    return out;
  }

  static std::string textOf(const pugi::xml_node& node) {
    if (node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata) return node.value();
    std::string out;
    for (const auto& child : node.children()) out += textOf(child);
    return out;
  }

 private:
  void collect(const json* value, std::size_t step, std::vector<const json*>& out,
               bool first_only) const {
    if (value == nullptr || (first_only && !out.empty())) return;
    if (step == steps_.size()) {
      out.push_back(value);
      return;
    }
    const Step& s = steps_[step];
    switch (s.kind) {
      case Step::Kind::key:
        if (value->is_object()) {
          const auto it = value->find(s.key);
          if (it != value->end()) collect(&*it, step + 1, out, first_only);
        }
        break;
      case Step::Kind::index:
        if (value->is_array()) {
          const auto size = static_cast<std::int64_t>(value->size());
          const std::int64_t i = s.index < 0 ? size + s.index : s.index;
          if (i >= 0 && i < size)
            collect(&(*value)[static_cast<std::size_t>(i)], step + 1, out, first_only);
        }
        break;
      case Step::Kind::wildcard:
        if (value->is_array() || value->is_object()) {
          for (const auto& element : *value) collect(&element, step + 1, out, first_only);
        }
        break;
    }
  }

  std::string text_;
  std::vector<Step> steps_;
  std::shared_ptr<pugi::xpath_query> xpath_;
};

struct TargetPath {
  std::vector<std::string> segments;
  bool attribute = false;  // the last segment is @name (XML output)
  std::string text;
};

struct Lookup {
  std::map<std::string, std::string> entries;
  std::optional<std::string> fallback;
};

struct Field {
  TargetPath target;
  enum class Source { path, constant, concat, header, simple } source = Source::path;
  SourcePath path;
  std::vector<SourcePath> parts;  // concat
  std::string separator;
  std::string constant;  // constant, or header name
  ExpressionPtr expression;
  Type type = Type::none;
  std::string format, output_format;
  std::optional<std::string> fallback;
  const Lookup* lookup = nullptr;
  std::string lookup_name;
  bool required = false;
};

struct Each;
using Rule = std::variant<Field, std::unique_ptr<Each>>;

struct Each {
  SourcePath source;
  TargetPath target;
  std::string item;
  std::vector<Rule> rules;
};

// ---- conversions ------------------------------------------------------------------------

std::string textOf(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

std::optional<bool> parseFlag(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text == "true" || text == "yes" || text == "y" || text == "1" || text == "on") return true;
  if (text == "false" || text == "no" || text == "n" || text == "0" || text == "off") return false;
  return std::nullopt;
}

// Parses a date/time with `format` (strptime; "unix"/"unix-ms" for epoch numbers; empty:
// ISO 8601 with an optional fraction and zone) into seconds since the epoch, UTC.
std::optional<std::int64_t> parseTime(const json& value, const std::string& format,
                                      bool date_only) {
  if (format == "unix" || format == "unix-ms") {
    std::optional<double> n;
    if (value.is_number())
      n = value.get<double>();
    else if (value.is_string())
      n = parseDecimal(trim(value.get<std::string>()));
    if (!n) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(format == "unix" ? *n : *n / 1000.0));
  }
  if (!value.is_string()) return std::nullopt;
  const std::string text(trim(value.get<std::string>()));
  std::tm tm{};
  const std::string pattern =
      !format.empty() ? format : (date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S");
  const char* rest = strptime(text.c_str(), pattern.c_str(), &tm);
  if (rest == nullptr && format.empty() && !date_only)
    rest = strptime(text.c_str(), "%Y-%m-%d", &tm);  // a date is a date-time at 00:00
  if (rest == nullptr) return std::nullopt;
  std::int64_t offset = 0;
  if (format.empty()) {
    if (*rest == '.') {
      ++rest;
      while (std::isdigit(static_cast<unsigned char>(*rest))) ++rest;
    }
    if (*rest == 'Z' || *rest == 'z') {
      ++rest;
    } else if (*rest == '+' || *rest == '-') {
      const int sign = *rest == '-' ? -1 : 1;
      int hh = 0, mm = 0;
      if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
      offset = sign * (hh * 3600 + mm * 60);
      rest += 6;
    }
  }
  while (*rest == ' ') ++rest;
  if (*rest != '\0') return std::nullopt;
  const std::tm given = tm;
  const std::time_t t = timegm(&tm);
  if (tm.tm_mday != given.tm_mday || tm.tm_mon != given.tm_mon) return std::nullopt;  // 30 February
  return static_cast<std::int64_t>(t) - offset;
}

std::string formatTime(std::int64_t seconds, const std::string& format) {
  if (format == "unix") return std::to_string(seconds);
  if (format == "unix-ms") return std::to_string(seconds * 1000);
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[128];
  const std::size_t n = std::strftime(buffer, sizeof buffer, format.c_str(), &tm);
  return std::string(buffer, n);
}

// Converts `value` to `type`; nullopt with `why` when it cannot.
std::optional<json> convert(const json& value, const Field& field, std::string& why) {
  switch (field.type) {
    case Type::none: return value;
    case Type::string: return json(textOf(value));
    case Type::integer: {
      if (value.is_number_integer() || value.is_number_unsigned()) return value;
      if (value.is_number_float()) {
        const double d = value.get<double>();
        if (std::floor(d) == d) return json(static_cast<std::int64_t>(d));
      }
      if (value.is_string()) {
        if (auto n = parseInteger(trim(value.get<std::string>()))) return json(*n);
      }
      if (value.is_boolean()) return json(value.get<bool>() ? 1 : 0);
      why = textOf(value).empty() ? "an empty value is not an int"
                                  : "'" + textOf(value) + "' is not an int";
      return std::nullopt;
    }
    case Type::decimal: {
      if (value.is_number()) return json(value.get<double>());
      if (value.is_string()) {
        std::string text(trim(value.get<std::string>()));
        if (field.format == "decimal-comma") {
          std::string cleaned;
          for (char c : text) {
            if (c == '.' || c == ' ') continue;  // thousands
            cleaned += c == ',' ? '.' : c;
          }
          text = cleaned;
        }
        if (auto d = parseDecimal(text)) return json(*d);
      }
      why = "'" + textOf(value) + "' is not a decimal";
      return std::nullopt;
    }
    case Type::boolean: {
      if (value.is_boolean()) return value;
      if (value.is_number()) return json(value.get<double>() != 0);
      if (auto b = parseFlag(textOf(value))) return json(*b);
      why = "'" + textOf(value) + "' is not a boolean (true/false, yes/no, 1/0)";
      return std::nullopt;
    }
    case Type::date:
    case Type::datetime: {
      const bool date_only = field.type == Type::date;
      const auto seconds = parseTime(value, field.format, date_only);
      if (!seconds) {
        why = "'" + textOf(value) + "' is not a " + (date_only ? "date" : "date-time") +
              (field.format.empty() ? std::string(" (ISO 8601 expected; give format= for others)")
                                    : " in the format " + field.format);
        return std::nullopt;
      }
      const std::string out = !field.output_format.empty()
                                  ? field.output_format
                                  : (date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ");
      if (out == "unix" || out == "unix-ms")
        return json(out == "unix" ? *seconds : *seconds * 1000);
      return json(formatTime(*seconds, out));
    }
  }
  return value;
}

std::optional<json> fromValue(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::optional<json> {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::monostate>)
          return std::nullopt;
        else
          return json(v);
      },
      value);
}

// ---- writing ----------------------------------------------------------------------------

void writeXml(pugi::xml_node node, const json& value) {
  if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      if (member.is_array()) {
        for (const auto& element : member) writeXml(node.append_child(key.c_str()), element);
      } else {
        writeXml(node.append_child(key.c_str()), member);
      }
    }
  } else if (value.is_array()) {
    for (const auto& element : value) writeXml(node.append_child("item"), element);
  } else if (!value.is_null()) {
    node.append_child(pugi::node_pcdata).set_value(textOf(value).c_str());
  }
}

struct Output {
  json* json_node = nullptr;
  pugi::xml_node xml_node;
};

json* jsonParent(json& root, const TargetPath& target, std::size_t upto, std::string& why) {
  json* node = &root;
  for (std::size_t i = 0; i < upto; ++i) {
    json& next = (*node)[target.segments[i]];
    if (next.is_null()) next = json::object();
    if (!next.is_object()) {
      why = "target '" + target.text + "': '" + target.segments[i] +
            "' is already set to a value that is not an object";
      return nullptr;
    }
    node = &next;
  }
  return node;
}

pugi::xml_node xmlParent(pugi::xml_node node, const TargetPath& target, std::size_t upto) {
  for (std::size_t i = 0; i < upto; ++i) {
    pugi::xml_node child = node.child(target.segments[i].c_str());
    node = child ? child : node.append_child(target.segments[i].c_str());
  }
  return node;
}

// ---- the transformer --------------------------------------------------------------------

class MapTransformer final : public Transformer {
 public:
  MapTransformer(bool xml_in, bool xml_out, std::string root, std::string ns,
                 std::string media_type, std::vector<Rule> rules,
                 std::map<std::string, Lookup> lookups)
      : xml_in_(xml_in),
        xml_out_(xml_out),
        root_(std::move(root)),
        namespace_(std::move(ns)),
        media_type_(std::move(media_type)),
        rules_(std::move(rules)),
        lookups_(std::move(lookups)) {}

  Result<void> apply(Exchange& exchange) const override {
    Context context;
    std::string error;
    if (xml_in_) {
      const pugi::xml_document* doc = exchange.message.body().xml(&error);
      if (doc == nullptr) return Error(ErrorKind::invalid, "map: the body is not XML: " + error);
      context.xml_item = *doc;
    } else {
      context.json_item = exchange.message.body().json(&error);
      if (context.json_item == nullptr)
        return Error(ErrorKind::invalid, "map: the body is not JSON: " + error);
    }
    std::vector<std::string> problems;
    if (xml_out_) {
      pugi::xml_document out;
      auto decl = out.append_child(pugi::node_declaration);
      decl.append_attribute("version") = "1.0";
      decl.append_attribute("encoding") = "UTF-8";
      pugi::xml_node root = out.append_child(root_.c_str());
      if (!namespace_.empty()) root.append_attribute("xmlns") = namespace_.c_str();
      run(rules_, context, Output{nullptr, root}, exchange, "", problems);
      if (!problems.empty()) return failure(problems);
      std::ostringstream text;
      out.save(text, "", pugi::format_raw, pugi::encoding_utf8);
      exchange.message.setBody(text.str(), media_type_.empty() ? "application/xml" : media_type_);
    } else {
      json out = json::object();
      run(rules_, context, Output{&out, {}}, exchange, "", problems);
      if (!problems.empty()) return failure(problems);
      exchange.message.setBody(out.dump(), media_type_.empty() ? "application/json" : media_type_);
    }
    return {};
  }

 private:
  static Error failure(const std::vector<std::string>& problems) {
    std::string text = "map: " + std::to_string(problems.size()) + " problem(s): ";
    for (std::size_t i = 0; i < problems.size() && i < 100; ++i)
      text += (i == 0 ? "" : "; ") + problems[i];
    if (problems.size() > 100) text += "; ...";
    return Error(ErrorKind::invalid, text);
  }

  void run(const std::vector<Rule>& rules, const Context& context, const Output& output,
           const Exchange& exchange, const std::string& where,
           std::vector<std::string>& problems) const {
    for (const auto& rule : rules) {
      if (const auto* field = std::get_if<Field>(&rule)) {
        applyField(*field, context, output, exchange, where, problems);
      } else {
        applyEach(*std::get<std::unique_ptr<Each>>(rule), context, output, exchange, where,
                  problems);
      }
    }
  }

  void applyEach(const Each& each, const Context& context, const Output& output,
                 const Exchange& exchange, const std::string& where,
                 std::vector<std::string>& problems) const {
    const auto items = each.source.items(context);
    const std::size_t n = each.target.segments.size();
    if (output.json_node != nullptr) {
      std::string why;
      json* parent = jsonParent(*output.json_node, each.target, n - 1, why);
      if (parent == nullptr) {
        problems.push_back(where + why);
        return;
      }
      json& array = (*parent)[each.target.segments.back()];
      if (!array.is_array()) array = json::array();
      for (std::size_t i = 0; i < items.size(); ++i) {
        json element = json::object();
        run(each.rules, items[i], Output{&element, {}}, exchange,
            where + each.target.text + "[" + std::to_string(i) + "]: ", problems);
        array.push_back(std::move(element));
      }
      return;
    }
    pugi::xml_node parent = xmlParent(output.xml_node, each.target, each.item.empty() ? n - 1 : n);
    const std::string name = each.item.empty() ? each.target.segments.back() : each.item;
    for (std::size_t i = 0; i < items.size(); ++i) {
      pugi::xml_node element = parent.append_child(name.c_str());
      run(each.rules, items[i], Output{nullptr, element}, exchange,
          where + each.target.text + "[" + std::to_string(i) + "]: ", problems);
    }
  }

  void applyField(const Field& field, const Context& context, const Output& output,
                  const Exchange& exchange, const std::string& where,
                  std::vector<std::string>& problems) const {
    std::optional<json> value;
    std::string from;
    switch (field.source) {
      case Field::Source::path:
        value = field.path.read(context);
        from = " (source " + field.path.text() + ")";
        break;
      case Field::Source::constant: value = json(field.constant); break;
      case Field::Source::concat: {
        std::string text;
        bool any = false;
        for (const auto& part : field.parts) {
          const auto v = part.read(context);
          if (!v || v->is_null() || textOf(*v).empty()) continue;
          text += (any ? field.separator : "") + textOf(*v);
          any = true;
        }
        if (any) value = json(text);
        break;
      }
      case Field::Source::header: {
        if (const HeaderValue* h = exchange.message.headers().find(field.constant))
          value = fromValue(fromHeader(*h));
        from = " (header " + field.constant + ")";
        break;
      }
      case Field::Source::simple: {
        auto v = field.expression->evaluate(exchange);
        if (!v) {
          problems.push_back(where + field.target.text + ": " + v.error().message);
          return;
        }
        value = fromValue(*v);
        break;
      }
    }
    if (!value || value->is_null()) {
      if (field.fallback) {
        value = json(*field.fallback);
      } else if (field.required) {
        problems.push_back(where + field.target.text + ": required value is missing" + from);
        return;
      } else {
        return;  // optional and absent: the target is left out
      }
    }
    if (field.lookup != nullptr) {
      const std::string key = textOf(*value);
      const auto it = field.lookup->entries.find(key);
      if (it != field.lookup->entries.end()) {
        value = json(it->second);
      } else if (field.lookup->fallback) {
        value = json(*field.lookup->fallback);
      } else {
        problems.push_back(where + field.target.text + ": '" + key + "' is not in lookup '" +
                           field.lookup_name + "'" + from);
        return;
      }
    }
    std::string why;
    auto converted = convert(*value, field, why);
    if (!converted) {
      problems.push_back(where + field.target.text + ": " + why + from);
      return;
    }
    const std::size_t n = field.target.segments.size();
    if (output.json_node != nullptr) {
      json* parent = jsonParent(*output.json_node, field.target, n - 1, why);
      if (parent == nullptr) {
        problems.push_back(where + why);
        return;
      }
      (*parent)[field.target.segments.back()] = std::move(*converted);
      return;
    }
    pugi::xml_node parent = xmlParent(output.xml_node, field.target, n - 1);
    if (field.target.attribute) {
      parent.append_attribute(field.target.segments.back().c_str()) = textOf(*converted).c_str();
    } else {
      writeXml(parent.append_child(field.target.segments.back().c_str()), *converted);
    }
  }

  bool xml_in_, xml_out_;
  std::string root_, namespace_, media_type_;
  std::vector<Rule> rules_;
  std::map<std::string, Lookup> lookups_;  // fields point into it
};

// ---- compiling --------------------------------------------------------------------------

class MapCompiler {
 public:
  MapCompiler(TransformBuild& build, bool xml_in, bool xml_out)
      : build_(build), xml_in_(xml_in), xml_out_(xml_out) {}

  bool ok() const { return ok_; }
  std::map<std::string, Lookup>& lookups() { return lookups_; }

  void collectLookups(const StepDef& map) {
    for (const auto& child : map.children) {
      if (child.kind != "lookup") continue;
      const auto* name = child.attribute("name");
      if (name == nullptr) continue;
      Lookup lookup;
      if (const auto* d = child.attribute("default")) lookup.fallback = d->value;
      for (const auto& entry : child.children) {
        const auto* key = entry.attribute("key");
        const auto* value = entry.attribute("value");
        if (key == nullptr || value == nullptr) continue;
        if (!lookup.entries.emplace(key->value, value->value).second)
          error(key->value_where, "key '" + key->value + "' is given twice");
      }
      if (!lookups_.emplace(name->value, std::move(lookup)).second)
        error(name->value_where, "lookup '" + name->value + "' is declared twice");
    }
  }

  std::vector<Rule> rules(const std::vector<StepDef>& children) {
    std::vector<Rule> out;
    for (const auto& child : children) {
      if (child.kind == "field") {
        if (auto field = compileField(child)) out.emplace_back(std::move(*field));
      } else if (child.kind == "each") {
        if (auto each = compileEach(child)) out.emplace_back(std::move(each));
      }
    }
    return out;
  }

 private:
  void error(const SourceLocation& where, const std::string& message) {
    build_.diagnostics.error(where, message);
    ok_ = false;
  }

  std::optional<SourcePath> source(const AttributeDef& attribute, std::string text,
                                   std::size_t base_offset = 0) {
    SourcePath path;
    std::size_t offset = 0;
    std::string message;
    if (!path.parse(text, xml_in_, offset, message)) {
      error(attribute.locate(base_offset + offset), std::string("invalid ") +
                                                        (xml_in_ ? "XPath" : "JSON path") + " '" +
                                                        text + "': " + message);
      return std::nullopt;
    }
    return path;
  }

  std::optional<TargetPath> target(const AttributeDef& attribute) {
    TargetPath out;
    out.text = attribute.value;
    std::size_t start = 0;
    const std::string& text = attribute.value;
    while (true) {
      const std::size_t dot = text.find('.', start);
      std::string segment =
          text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      const bool last = dot == std::string::npos;
      if (!segment.empty() && segment[0] == '@') {
        if (!last || !xml_out_) {
          error(
              attribute.locate(start),
              "@" + segment.substr(1) +
                  ": an attribute target is only possible as the last part of an XML output path");
          return std::nullopt;
        }
        out.attribute = true;
        segment.erase(0, 1);
      }
      const bool valid =
          !segment.empty() &&
          (std::isalpha(static_cast<unsigned char>(segment[0])) || segment[0] == '_') &&
          std::all_of(segment.begin(), segment.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                   c == ':' || static_cast<unsigned char>(c) >= 0x80;
          });
      if (!valid) {
        error(attribute.locate(start),
              "target '" + text +
                  "': each part must be a name (letters, digits, '_', '-'), separated by dots");
        return std::nullopt;
      }
      out.segments.push_back(segment);
      if (last) break;
      start = dot + 1;
    }
    return out;
  }

  std::optional<Field> compileField(const StepDef& def) {
    Field field;
    const auto* target_attribute = def.attribute("target");
    if (target_attribute == nullptr) return std::nullopt;
    auto target_path = target(*target_attribute);
    if (!target_path) return std::nullopt;
    field.target = std::move(*target_path);
    if (const auto* a = def.attribute("source")) {
      auto path = source(*a, a->value);
      if (!path) return std::nullopt;
      field.path = std::move(*path);
    } else if (const auto* c = def.attribute("constant")) {
      field.source = Field::Source::constant;
      field.constant = c->value;
    } else if (const auto* cc = def.attribute("concat")) {
      field.source = Field::Source::concat;
      // Comma-separated paths; commas inside brackets, parentheses or quotes do not count.
      std::size_t start = 0;
      int depth = 0;
      char quote = 0;
      const std::string& text = cc->value;
      for (std::size_t i = 0; i <= text.size(); ++i) {
        const char ch = i < text.size() ? text[i] : ',';
        if (quote != 0) {
          if (ch == quote) quote = 0;
          continue;
        }
        if (ch == '\'' || ch == '"')
          quote = ch;
        else if (ch == '[' || ch == '(')
          ++depth;
        else if (ch == ']' || ch == ')')
          --depth;
        else if (ch == ',' && depth == 0) {
          const std::string raw = text.substr(start, i - start);
          const std::size_t lead = raw.find_first_not_of(' ');
          const std::string part(trim(raw));
          if (part.empty()) {
            error(cc->locate(start), "concat: an empty path");
            return std::nullopt;
          }
          auto path = source(*cc, part, start + (lead == std::string::npos ? 0 : lead));
          if (!path) return std::nullopt;
          field.parts.push_back(std::move(*path));
          start = i + 1;
        }
      }
      if (const auto* s = def.attribute("separator")) field.separator = s->value;
    } else if (const auto* h = def.attribute("header")) {
      field.source = Field::Source::header;
      field.constant = h->value;
    } else if (const auto* s = def.attribute("simple")) {
      field.source = Field::Source::simple;
      auto compiled = compileExpression("simple", s->value);
      if (compiled.error) {
        error(s->locate(compiled.error->offset),
              "invalid simple expression '" + s->value + "': " + compiled.error->message);
        return std::nullopt;
      }
      field.expression = compiled.expression;
    } else {
      return std::nullopt;  // the loader reported it
    }
    if (const auto* t = def.attribute("type")) {
      static const std::map<std::string, Type> kTypes = {
          {"string", Type::string}, {"int", Type::integer}, {"decimal", Type::decimal},
          {"bool", Type::boolean},  {"date", Type::date},   {"datetime", Type::datetime}};
      const auto it = kTypes.find(t->value);
      if (it == kTypes.end()) {
        error(t->value_where,
              "unknown type '" + t->value + "'" +
                  didYouMean(t->value, {"string", "int", "decimal", "bool", "date", "datetime"}) +
                  "; use string, int, decimal, bool, date or datetime");
        return std::nullopt;
      }
      field.type = it->second;
    }
    if (const auto* f = def.attribute("format")) {
      field.format = f->value;
      if (field.type != Type::date && field.type != Type::datetime && field.type != Type::decimal) {
        error(f->where, "format only applies to type=\"date\", \"datetime\" or \"decimal\"");
      } else if (field.type == Type::decimal && field.format != "decimal-comma") {
        error(f->value_where, "the only decimal format is 'decimal-comma' (12,50 or 1.234,50)");
      }
    }
    if (const auto* f = def.attribute("output-format")) {
      field.output_format = f->value;
      if (field.type != Type::date && field.type != Type::datetime)
        error(f->where, "output-format only applies to type=\"date\" or \"datetime\"");
    }
    if (const auto* d = def.attribute("default")) field.fallback = d->value;
    if (const auto* r = def.attribute("required")) {
      const auto v = parseBoolean(r->value);
      if (!v) error(r->value_where, "required must be true or false, not '" + r->value + "'");
      field.required = v.value_or(false);
    }
    if (const auto* l = def.attribute("lookup")) {
      const auto it = lookups_.find(l->value);
      if (it == lookups_.end()) {
        std::vector<std::string> names;
        for (const auto& [name, unused] : lookups_) names.push_back(name);
        error(l->value_where, "unknown lookup '" + l->value + "'" + didYouMean(l->value, names) +
                                  "; declare it with <lookup name=\"" + l->value +
                                  "\"> in this <map>");
        return std::nullopt;
      }
      field.lookup = &it->second;
      field.lookup_name = l->value;
    }
    return field;
  }

  std::unique_ptr<Each> compileEach(const StepDef& def) {
    const auto* s = def.attribute("source");
    const auto* t = def.attribute("target");
    if (s == nullptr || t == nullptr) return nullptr;
    auto each = std::make_unique<Each>();
    auto path = source(*s, s->value);
    auto target_path = target(*t);
    if (!path || !target_path) return nullptr;
    if (target_path->attribute) {
      error(t->value_where, "<each> needs an element target, not an attribute");
      return nullptr;
    }
    each->source = std::move(*path);
    each->target = std::move(*target_path);
    if (const auto* item = def.attribute("item")) each->item = item->value;
    each->rules = rules(def.children);
    return each;
  }

  TransformBuild& build_;
  bool xml_in_, xml_out_;
  bool ok_ = true;
  std::map<std::string, Lookup> lookups_;
};

std::optional<bool> formatIsXml(const StepDef& step, const char* name, TransformBuild& build) {
  const auto* a = step.attribute(name);
  if (a == nullptr || a->value == "json") return false;
  if (a->value == "xml") return true;
  build.diagnostics.error(a->value_where,
                          std::string(name) + " must be json or xml, not '" + a->value + "'");
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const Transformer> compileMapStep(const StepDef& step, TransformBuild& build) {
  const auto xml_in = formatIsXml(step, "input", build);
  const auto xml_out = formatIsXml(step, "output", build);
  if (!xml_in || !xml_out) return nullptr;
  std::string root = step.attribute("root") ? step.attribute("root")->value : "";
  if (*xml_out && root.empty()) {
    build.diagnostics.error(
        step.where, "<map output=\"xml\"> needs root=\"ElementName\" for the document element");
    return nullptr;
  }
  const bool has_rules =
      std::any_of(step.children.begin(), step.children.end(),
                  [](const StepDef& c) { return c.kind == "field" || c.kind == "each"; });
  if (!has_rules) {
    build.diagnostics.error(step.where, "<map> needs at least one <field> or <each>");
    return nullptr;
  }
  MapCompiler compiler(build, *xml_in, *xml_out);
  compiler.collectLookups(step);
  auto rules = compiler.rules(step.children);
  if (!compiler.ok()) return nullptr;
  return std::make_shared<MapTransformer>(
      *xml_in, *xml_out, root,
      step.attribute("namespace") ? step.attribute("namespace")->value : "",
      step.attribute("media-type") ? step.attribute("media-type")->value : "", std::move(rules),
      std::move(compiler.lookups()));
}

}  // namespace busway
