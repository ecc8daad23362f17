#include "busway/config/table_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include <pugixml.hpp>

#include "busway/util/text.hpp"
#include "busway/version.hpp"
#include "element_rules.hpp"

namespace busway {
namespace fs = std::filesystem;

SourceLocation AttributeDef::locate(std::size_t offset) const {
  SourceLocation at = value_where;
  std::size_t decoded = 0;
  for (std::size_t i = 0; i < raw.size() && decoded < offset; ++decoded) {
    if (raw[i] == '\n') {
      ++at.line;
      at.column = 1;
    } else {
      ++at.column;
    }
    if (raw[i] == '&') {
      const auto semi = raw.find(';', i);
      const std::size_t len = semi == std::string::npos ? 1 : semi - i + 1;
      at.column += static_cast<int>(len) - 1;
      i += len;
    } else {
      ++i;
    }
  }
  return at;
}

namespace {

// One file of a table, parsed in place so every name and value points back into the
// text, which is how we know where things are.
class SourceFile {
 public:
  SourceFile(std::string name, std::string text) : name_(std::move(name)), text_(std::move(text)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text_.size(); ++i) {
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  const std::string& name() const { return name_; }

  SourceLocation locateOffset(std::size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const std::size_t line_index = static_cast<std::size_t>(it - line_starts_.begin()) - 1;
    const std::size_t start = line_starts_[line_index];
    // Columns count characters, not bytes: skip UTF-8 continuation bytes.
    int column = 1;
    for (std::size_t i = start; i < offset && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    return SourceLocation{name_, static_cast<int>(line_index) + 1, column};
  }

  SourceLocation locate(const char* p) const {
    if (p < buffer_.data() || p > buffer_.data() + buffer_.size())
      return SourceLocation{name_, 0, 0};
    return locateOffset(static_cast<std::size_t>(p - buffer_.data()));
  }

  // The attribute value as written: between the quotes that follow `value` in the text.
  std::string rawValue(const char* value) const {
    if (value < buffer_.data() || value > buffer_.data() + buffer_.size()) return {};
    const std::size_t start = static_cast<std::size_t>(value - buffer_.data());
    if (start == 0) return {};
    const char quote = text_[start - 1];
    if (quote != '"' && quote != '\'') return {};
    const auto end = text_.find(quote, start);
    return text_.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }

  // Parses the text. On malformed XML, reports the error, blanks out the top-level element
  // that contains it and tries again, so the rest of the file is still checked.
  bool parse(pugi::xml_document& doc, Diagnostics& diagnostics,
             std::set<std::string>& skipped_ids) {
    std::string working = text_;
    for (int round = 0; round < 32; ++round) {
      buffer_ = working;
      const pugi::xml_parse_result result = doc.load_buffer_inplace(
          buffer_.data(), buffer_.size(), pugi::parse_default | pugi::parse_ws_pcdata_single,
          pugi::encoding_utf8);
      if (result) return true;
      const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, result.offset));
      const auto region = enclosingTopLevelElement(working, offset);
      std::string message = std::string("malformed XML: ") + result.description();
      if (!region) {
        diagnostics.error(locateOffset(offset), message);
        return false;
      }
      const SourceLocation start = locateOffset(region->first);
      diagnostics.error(locateOffset(offset),
                        message + " (the element at line " + std::to_string(start.line) +
                            " is skipped; the rest of the file is still checked)");
      collectIds(working.substr(region->first, region->second - region->first), skipped_ids);
      for (std::size_t i = region->first; i < region->second; ++i) {
        if (working[i] != '\n') working[i] = ' ';
      }
    }
    return false;
  }

 private:
  static std::optional<std::pair<std::size_t, std::size_t>> enclosingTopLevelElement(
      const std::string& text, std::size_t offset) {
    static const char* const kTopLevel[] = {"<route", "<endpoint", "<include", "<error-handler"};
    const auto isTagAt = [&](std::size_t pos) {
      for (const char* tag : kTopLevel) {
        const std::size_t len = std::char_traits<char>::length(tag);
        if (text.compare(pos, len, tag) == 0 && pos + len < text.size()) {
          const char next = text[pos + len];
          if (next == ' ' || next == '>' || next == '/' || next == '\n' || next == '\t' ||
              next == '\r')
            return true;
        }
      }
      return false;
    };
    std::optional<std::size_t> start;
    for (std::size_t pos = std::min(offset, text.size() - 1) + 1; pos-- > 0;) {
      if (text[pos] == '<' && isTagAt(pos)) {
        start = pos;
        break;
      }
    }
    if (!start) return std::nullopt;
    std::size_t end = text.find("</routes", offset);
    for (std::size_t pos = std::max(offset, *start + 1); pos < text.size(); ++pos) {
      if (text[pos] == '<' && isTagAt(pos)) {
        end = std::min(end, pos);
        break;
      }
    }
    if (end == std::string::npos || end <= *start) return std::nullopt;
    return std::make_pair(*start, end);
  }

  static void collectIds(const std::string& text, std::set<std::string>& ids) {
    for (std::size_t pos = text.find("id=\""); pos != std::string::npos;
         pos = text.find("id=\"", pos + 4)) {
      const auto end = text.find('"', pos + 4);
      if (end != std::string::npos) ids.insert(text.substr(pos + 4, end - pos - 4));
    }
  }

  std::string name_;
  std::string text_;    // the file as read
  std::string buffer_;  // what pugixml parsed in place
  std::vector<std::size_t> line_starts_;
};

class Loader {
 public:
  explicit Loader(Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

  void loadFile(const std::string& path, const SourceLocation& included_from) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(fs::path(path), ec);
    const std::string key = ec ? path : canonical.string();
    if (std::find(stack_.begin(), stack_.end(), key) != stack_.end()) {
      diagnostics_.error(included_from, "include cycle: '" + path + "' is already being loaded");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      diagnostics_.error(included_from.file.empty() ? SourceLocation{path, 0, 0} : included_from,
                         "cannot read routing table '" + path + "': " + std::strerror(errno));
      return;
    }
    std::ostringstream content;
    content << in.rdbuf();
    loadText(content.str(), path, fs::path(path).parent_path().string(), key);
  }

  void loadText(std::string text, const std::string& name, const std::string& base_dir,
                const std::string& key) {
    table_.files.push_back(name);
    stack_.push_back(key);
    auto file = std::make_unique<SourceFile>(name, std::move(text));
    pugi::xml_document doc;
    const bool complete = file->parse(doc, diagnostics_, skipped_ids_);
    (void)complete;
    current_ = file.get();
    base_dirs_.push_back(base_dir);
    if (doc.document_element()) readRoot(doc.document_element());
    base_dirs_.pop_back();
    stack_.pop_back();
    files_.push_back(std::move(file));
  }

  TableDefinition take() { return std::move(table_); }
  const std::set<std::string>& skippedIds() const { return skipped_ids_; }

 private:
  SourceLocation at(const pugi::xml_node& node) const {
    // node.name() points just past '<'.
    SourceLocation where = current_->locate(node.name());
    if (where.column > 1) --where.column;
    return where;
  }
  SourceLocation at(const pugi::xml_attribute& attribute) const {
    return current_->locate(attribute.name());
  }

  // Element name without its namespace prefix; false when it is not in our namespace.
  bool localName(const pugi::xml_node& node, std::string& local) {
    const std::string name = node.name();
    const auto colon = name.find(':');
    const std::string prefix = colon == std::string::npos ? "" : name.substr(0, colon);
    local = colon == std::string::npos ? name : name.substr(colon + 1);
    const std::string ns = namespaceOf(node, prefix);
    if (ns != kRoutesNamespace) {
      diagnostics_.error(at(node), "element <" + name +
                                       "> is not in the busway routes namespace (xmlns=\"" +
                                       std::string(kRoutesNamespace) + "\")" +
                                       (ns.empty() ? "" : "; it is in '" + ns + "'"));
      return false;
    }
    return true;
  }

  static std::string namespaceOf(pugi::xml_node node, const std::string& prefix) {
    const std::string attribute = prefix.empty() ? "xmlns" : "xmlns:" + prefix;
    for (; node; node = node.parent()) {
      if (const auto a = node.attribute(attribute.c_str())) return a.value();
    }
    return {};
  }

  // Resolves ${env:...} and ${file:...}; other ${...} are left for run time.
  std::string resolvePlaceholders(const std::string& value,
                                  const std::function<SourceLocation(std::size_t)>& where) {
    std::string out;
    std::size_t pos = 0;
    while (pos < value.size()) {
      const auto open = value.find("${", pos);
      if (open == std::string::npos) break;
      const bool env = value.compare(open + 2, 4, "env:") == 0;
      const bool file = value.compare(open + 2, 5, "file:") == 0;
      const auto close = value.find('}', open);
      if ((!env && !file) || close == std::string::npos) {
        out.append(value, pos, (close == std::string::npos ? value.size() : close + 1) - pos);
        pos = close == std::string::npos ? value.size() : close + 1;
        continue;
      }
      out.append(value, pos, open - pos);
      const std::string body = value.substr(open + (env ? 6 : 7), close - open - (env ? 6 : 7));
      if (env) {
        const auto dash = body.find(":-");
        const std::string name = body.substr(0, dash);
        if (const char* v = std::getenv(name.c_str())) {
          out += v;
        } else if (dash != std::string::npos) {
          out += body.substr(dash + 2);
        } else {
          diagnostics_.error(where(open), "environment variable '" + name +
                                              "' is not set; set it or give a default: ${env:" +
                                              name + ":-value}");
        }
      } else {
        fs::path file_path(body);
        if (file_path.is_relative()) file_path = fs::path(base_dirs_.back()) / file_path;
        std::ifstream in(file_path, std::ios::binary);
        if (!in) {
          diagnostics_.error(where(open), "cannot read '" + file_path.string() + "' for ${file:" +
                                              body + "}: " + std::strerror(errno));
        } else {
          std::ostringstream content;
          content << in.rdbuf();
          std::string s = content.str();
          while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
          out += s;
        }
      }
      pos = close + 1;
    }
    out.append(value, pos, std::string::npos);
    return out;
  }

  // Reads the attributes of `node` against its rules; reports unknown ones.
  std::map<std::string, AttributeDef> readAttributes(const pugi::xml_node& node,
                                                     const ElementRule& rule) {
    std::map<std::string, AttributeDef> out;
    for (const auto& a : node.attributes()) {
      const std::string name = a.name();
      if (name == "xmlns" || name.rfind("xmlns:", 0) == 0 || name.rfind("xsi:", 0) == 0) continue;
      if (!rule.allows(name)) {
        diagnostics_.error(
            at(a), "<" + rule.name + "> has no attribute '" + name + "'" +
                       didYouMean(name, rule.attributeNames()) +
                       (rule.attributes.empty() ? "" : "; it takes: " + rule.attributeList()));
        continue;
      }
      AttributeDef def;
      def.raw = current_->rawValue(a.value());
      def.where = at(a);
      def.value_where = current_->locate(a.value());
      const AttributeDef* self = &def;
      def.value = resolvePlaceholders(a.value(),
                                      [self](std::size_t offset) { return self->locate(offset); });
      out.emplace(name, std::move(def));
    }
    for (const auto& group : rule.one_of) {
      int present = 0;
      for (const auto& name : group.names) present += out.count(name) ? 1 : 0;
      if (present > 1) {
        diagnostics_.error(at(node), "<" + rule.name + "> takes only one of " + group.describe());
      } else if (present == 0 && group.required) {
        diagnostics_.error(at(node), "<" + rule.name + "> needs one of " + group.describe());
      }
    }
    for (const auto& name : rule.required) {
      if (!out.count(name))
        diagnostics_.error(at(node), "<" + rule.name + "> needs attribute '" + name + "'");
    }
    return out;
  }

  // Ids are names that other elements refer to: [A-Za-z_][A-Za-z0-9_.-]* (as in the XSD).
  void checkId(const std::map<std::string, AttributeDef>& attributes, const char* what) {
    const auto it = attributes.find("id");
    if (it == attributes.end()) return;
    const std::string& id = it->second.value;
    const auto ok_first = [](char c) {
      return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    };
    const auto ok_rest = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    };
    bool ok = !id.empty() && ok_first(id[0]);
    for (std::size_t i = 1; ok && i < id.size(); ++i) ok = ok_rest(id[i]);
    if (!ok) {
      diagnostics_.error(it->second.value_where,
                         std::string(what) + " id '" + id +
                             "' is not a valid name: start with a letter or '_', then letters, "
                             "digits, '_', '.' or '-'");
    }
  }

  std::string readText(const pugi::xml_node& node, SourceLocation& where) {
    std::string text;
    for (const auto& child : node.children()) {
      if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        if (trim(text).empty()) {
          // Point at the first character that is not blank: scripts and programs given as
          // text report their errors by line, counted from there.
          const char* first = child.value();
          while (*first == ' ' || *first == '\t' || *first == '\r' || *first == '\n') ++first;
          if (*first != '\0' || text.empty())
            where = current_->locate(*first != '\0' ? first : child.value());
        }
        text += child.value();
      }
    }
    const auto trimmed = trim(text);
    if (trimmed.empty()) return {};
    const SourceLocation start = where;
    return resolvePlaceholders(std::string(trimmed), [start](std::size_t) { return start; });
  }

  void readRoot(const pugi::xml_node& root) {
    std::string name;
    if (!localName(root, name)) return;
    if (name != "routes") {
      diagnostics_.error(at(root), "the root element must be <routes>, not <" + name + ">");
      return;
    }
    const auto attributes = readAttributes(root, rules().at("routes"));
    if (const auto it = attributes.find("version");
        it != attributes.end() && it->second.value != "1") {
      diagnostics_.error(
          it->second.value_where,
          "this busway reads routing tables of version 1, not '" + it->second.value + "'");
    }
    for (const auto& child : root.children()) {
      if (child.type() != pugi::node_element) continue;
      std::string kind;
      if (!localName(child, kind)) continue;
      if (kind == "include")
        readInclude(child);
      else if (kind == "endpoint")
        readEndpoint(child);
      else if (kind == "error-handler")
        table_.error_handlers.push_back(readErrorHandler(child, true));
      else if (kind == "route")
        readRoute(child);
      else
        unknownElement(child, kind, "routes", {"include", "endpoint", "error-handler", "route"});
    }
  }

  void unknownElement(const pugi::xml_node& node, const std::string& kind,
                      const std::string& parent, const std::vector<std::string>& allowed) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "<" : ", <") + a + ">";
    diagnostics_.error(at(node), "unknown element <" + kind + "> in <" + parent + ">" +
                                     didYouMean(kind, allowed) + "; allowed here: " + list);
  }

  void readInclude(const pugi::xml_node& node) {
    const auto attributes = readAttributes(node, rules().at("include"));
    const auto it = attributes.find("href");
    if (it == attributes.end()) return;
    fs::path target(it->second.value);
    if (target.is_relative()) target = fs::path(base_dirs_.back()) / target;
    SourceFile* saved = current_;
    loadFile(target.string(), it->second.value_where);
    current_ = saved;
  }

  void readEndpoint(const pugi::xml_node& node) {
    auto attributes = readAttributes(node, rules().at("endpoint"));
    checkId(attributes, "endpoint");
    EndpointDef def;
    def.where = at(node);
    if (auto it = attributes.find("id"); it != attributes.end()) def.id = it->second.value;
    if (auto it = attributes.find("uri"); it != attributes.end()) {
      def.uri = it->second.value;
      def.uri_where = it->second.value_where;
    }
    table_.endpoints.push_back(std::move(def));
  }

  ErrorHandlerDef readErrorHandler(const pugi::xml_node& node, bool top_level) {
    auto attributes = readAttributes(node, rules().at("error-handler"));
    checkId(attributes, "error handler");
    ErrorHandlerDef def;
    def.where = at(node);
    const auto get = [&](const char* name) -> const AttributeDef* {
      const auto it = attributes.find(name);
      return it == attributes.end() ? nullptr : &it->second;
    };
    if (const auto* id = get("id")) {
      if (!top_level)
        diagnostics_.error(
            id->where, "an <error-handler> inside a <route> has no id; it applies to that route");
      def.id = id->value;
    } else if (top_level) {
      diagnostics_.error(def.where,
                         "a top-level <error-handler> needs an id so routes can refer to it");
    }
    if (const auto* a = get("max-attempts")) {
      const auto v = parseInteger(a->value);
      if (!v || *v < 1 || *v > 1000)
        diagnostics_.error(
            a->value_where,
            "max-attempts must be a whole number from 1 to 1000, not '" + a->value + "'");
      else
        def.max_attempts = static_cast<int>(*v);
    }
    const auto duration = [&](const char* name, long long& out) {
      if (const auto* a = get(name)) {
        const auto v = parseDuration(a->value);
        if (!v)
          diagnostics_.error(a->value_where,
                             std::string(name) +
                                 " must be a duration such as 250ms, 5s or 2m, not '" + a->value +
                                 "'");
        else
          out = v->count();
      }
    };
    duration("delay", def.delay_ms);
    duration("max-delay", def.max_delay_ms);
    if (const auto* a = get("backoff")) {
      const auto v = parseDecimal(a->value);
      if (!v || *v < 1.0)
        diagnostics_.error(a->value_where,
                           "backoff must be a number of at least 1.0, not '" + a->value + "'");
      else
        def.backoff = *v;
    }
    if (const auto* a = get("jitter")) {
      const auto v = parseDecimal(a->value);
      if (!v || *v < 0.0 || *v > 1.0)
        diagnostics_.error(a->value_where,
                           "jitter must be a number from 0 to 1, not '" + a->value + "'");
      else
        def.jitter = *v;
    }
    if (const auto* a = get("retry-on")) {
      if (a->value != "transient" && a->value != "all") {
        diagnostics_.error(a->value_where,
                           "retry-on must be 'transient' or 'all', not '" + a->value + "'");
      }
      def.retry_all = a->value == "all";
    }
    if (const auto* a = get("dead-letter")) def.dead_letter_ref = *a;
    if (const auto* a = get("dead-letter-uri")) def.dead_letter_uri = *a;
    for (const auto& child : node.children()) {
      if (child.type() == pugi::node_element)
        diagnostics_.error(at(child), "<error-handler> has no child elements");
    }
    return def;
  }

  void readRoute(const pugi::xml_node& node) {
    auto attributes = readAttributes(node, rules().at("route"));
    checkId(attributes, "route");
    RouteDef route;
    route.where = at(node);
    if (auto it = attributes.find("id"); it != attributes.end()) route.id = it->second.value;
    if (auto it = attributes.find("error-handler"); it != attributes.end())
      route.error_handler_ref = it->second;
    if (auto it = attributes.find("autostart"); it != attributes.end()) {
      const auto v = parseBoolean(it->second.value);
      if (!v)
        diagnostics_.error(it->second.value_where,
                           "autostart must be true or false, not '" + it->second.value + "'");
      route.autostart = v.value_or(true);
    }
    bool seen_step = false;
    for (const auto& child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      std::string kind;
      if (!localName(child, kind)) continue;
      if (kind == "description") {
        if (route.from || route.error_handler)
          diagnostics_.error(at(child), "<description> must come first in a <route>");
        SourceLocation ignored;
        route.description = readText(child, ignored);
      } else if (kind == "error-handler") {
        if (route.error_handler)
          diagnostics_.error(at(child), "a route has at most one <error-handler>");
        else if (route.from)
          diagnostics_.error(at(child), "<error-handler> must come before <from> in a <route>");
        route.error_handler = readErrorHandler(child, false);
      } else if (kind == "from") {
        if (route.from)
          diagnostics_.error(at(child),
                             "a route reads from one endpoint: a second <from> is not allowed");
        else if (seen_step)
          diagnostics_.error(at(child), "<from> must come before the steps of the route");
        route.from = readStep(child, kind);
      } else if (isStep(kind)) {
        seen_step = true;
        route.steps.push_back(readStep(child, kind));
      } else {
        auto allowed = stepNames();
        allowed.insert(allowed.end(), {"from", "description", "error-handler"});
        unknownElement(child, kind, "route", allowed);
      }
    }
    if (!route.from)
      diagnostics_.error(
          route.where, "route '" + route.id + "' has no <from>: say where its messages come from");
    table_.routes.push_back(std::move(route));
  }

  StepDef readStep(const pugi::xml_node& node, const std::string& kind) {
    const ElementRule& rule = rules().at(kind);
    StepDef step;
    step.kind = kind;
    step.where = at(node);
    step.attributes = readAttributes(node, rule);
    if (rule.text) step.text = readText(node, step.text_where);
    for (const auto& child : node.children()) {
      if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        if (!rule.text && !trim(child.value()).empty()) {
          diagnostics_.error(current_->locate(child.value()), "<" + kind + "> takes no text");
        }
        continue;
      }
      if (child.type() != pugi::node_element) continue;
      std::string child_kind;
      if (!localName(child, child_kind)) continue;
      const auto& allowed = rule.children;
      if (std::find(allowed.begin(), allowed.end(), child_kind) == allowed.end()) {
        if (allowed.empty()) {
          diagnostics_.error(at(child),
                             "<" + kind + "> has no child elements, found <" + child_kind + ">");
        } else {
          unknownElement(child, child_kind, kind, allowed);
        }
        continue;
      }
      step.children.push_back(readStep(child, child_kind));
    }
    return step;
  }

  Diagnostics& diagnostics_;
  TableDefinition table_;
  std::vector<std::string> stack_;
  std::vector<std::string> base_dirs_;
  std::vector<std::unique_ptr<SourceFile>> files_;
  SourceFile* current_ = nullptr;
  std::set<std::string> skipped_ids_;
};

}  // namespace

TableDefinition loadTable(const std::string& path, Diagnostics& diagnostics) {
  Loader loader(diagnostics);
  loader.loadFile(path, SourceLocation{});
  auto table = loader.take();
  table.skipped_ids.assign(loader.skippedIds().begin(), loader.skippedIds().end());
  return table;
}

TableDefinition loadTableFromString(const std::string& text, const std::string& name,
                                    const std::string& base_dir, Diagnostics& diagnostics) {
  Loader loader(diagnostics);
  loader.loadText(text, name, base_dir.empty() ? "." : base_dir, name);
  auto table = loader.take();
  table.skipped_ids.assign(loader.skippedIds().begin(), loader.skippedIds().end());
  return table;
}

void mergeInto(TableDefinition& table, TableDefinition&& part) {
  const auto append = [](auto& to, auto& from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  append(table.files, part.files);
  append(table.endpoints, part.endpoints);
  append(table.error_handlers, part.error_handlers);
  append(table.routes, part.routes);
  append(table.skipped_ids, part.skipped_ids);
}

}  // namespace busway
