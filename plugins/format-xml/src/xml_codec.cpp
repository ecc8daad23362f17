#include "xml_codec.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <pugixml.hpp>

#include "busway_formats/text.hpp"

namespace busway::formats::xml {

namespace {

// Elements (unmarshal) and JSON levels (marshal) deeper than this are refused: the
// conversion recurses, and a hostile document must not exhaust the stack.
constexpr std::size_t kMaxDepth = 512;

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const auto part = sdk::detail::trim(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!part.empty()) {
      std::string entry(part);
      if (entry.front() == '/') entry.erase(0, 1);  // "/order/line" == "order/line"
      out.push_back(std::move(entry));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

bool nameStart(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}
bool nameChar(unsigned char c) {
  return nameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool validName(std::string_view name) {
  if (name.empty() || !nameStart(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return nameChar(static_cast<unsigned char>(c)); });
}

// ---------------------------------------------------------------------------------------
// unmarshal

class Reader {
 public:
  explicit Reader(const Options& options) : options_(options) {}

  Json element(const pugi::xml_node& node, const std::string& path, std::size_t depth = 1) const {
    if (depth > kMaxDepth) {
      throw sdk::InvalidError("XML nests elements deeper than " + std::to_string(kMaxDepth) +
                              " levels (at " + path.substr(0, 200) + "...)");
    }
    std::string text;
    bool has_children = false;
    for (const pugi::xml_node child : node.children()) {
      if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
        text += child.value();
      } else if (child.type() == pugi::node_element) {
        has_children = true;
      }
    }
    if (!has_children && node.first_attribute().empty()) return Json(text);
    Json object = Json::object();
    for (const pugi::xml_attribute attribute : node.attributes()) {
      object[std::string("@") + attribute.name()] = attribute.value();
    }
    for (const pugi::xml_node child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      const std::string name = child.name();
      const std::string child_path = path + "/" + name;
      Json value = element(child, child_path, depth + 1);
      const auto found = object.find(name);
      if (found == object.end()) {
        if (isArray(child_path, name)) {
          object[name] = Json::array({std::move(value)});
        } else {
          object[name] = std::move(value);
        }
      } else if (found->is_array()) {  // only arrays made here: an element's value never is one
        found->push_back(std::move(value));
      } else {
        *found = Json::array({std::move(*found), std::move(value)});
      }
    }
    if (!isBlank(text)) object["#text"] = text;
    return object;
  }

 private:
  bool isArray(const std::string& path, const std::string& name) const {
    for (const auto& entry : options_.arrays) {
      if (entry.find('/') == std::string::npos ? entry == name : "/" + entry == path) return true;
    }
    return false;
  }
  static bool isBlank(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
  }
  const Options& options_;
};

// ---------------------------------------------------------------------------------------
// marshal

class Writer {
 public:
  explicit Writer(const Options& options) : options_(options) {}

  void content(pugi::xml_node node, const Json& value, const std::string& path,
               std::size_t depth = 1) const {
    if (depth > kMaxDepth) {
      fail(path.substr(0, 200),
           "the JSON nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    if (value.is_object()) {
      for (const auto& [key, child] : value.items()) {
        if (!key.empty() && key[0] == '@') {
          const std::string name = key.substr(1);
          if (!validName(name))
            fail(path, "the attribute name '" + name + "' is not a valid XML name");
          node.append_attribute(name.c_str()).set_value(scalar(child, path + "." + key).c_str());
        } else if (key == "#text") {
          node.append_child(pugi::node_pcdata).set_value(scalar(child, path + ".#text").c_str());
        } else {
          childElements(node, key, child, path + "." + key, depth);
        }
      }
    } else if (value.is_array()) {
      childElements(node, options_.item, value, path, depth);
    } else {
      const std::string text = scalar(value, path);
      if (!text.empty()) node.append_child(pugi::node_pcdata).set_value(text.c_str());
    }
  }

 private:
  void childElements(pugi::xml_node parent, const std::string& name, const Json& value,
                     const std::string& path, std::size_t depth) const {
    if (!validName(name)) {
      fail(path, "the key '" + name + "' is not a valid XML element name");
    }
    if (!value.is_array()) {
      content(parent.append_child(name.c_str()), value, path, depth + 1);
      return;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      content(parent.append_child(name.c_str()), value[i], path + "[" + std::to_string(i) + "]",
              depth + 1);
    }
  }

  static std::string scalar(const Json& value, const std::string& path) {
    std::string text;
    if (!scalarText(value, text)) {
      fail(path, std::string("a JSON ") + typeName(value) + " cannot be an attribute or text");
    }
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        fail(path, "the text holds control character " + std::to_string(u) +
                       ", which XML 1.0 cannot carry");
      }
    }
    return text;
  }

  [[noreturn]] static void fail(const std::string& path, const std::string& what) {
    throw sdk::InvalidError("XML marshal, at " + path + ": " + what);
  }

  const Options& options_;
};

struct StringWriter : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

}  // namespace

Options fromOptions(const sdk::Options& options) {
  Options o;
  o.root = options.text("root", "");
  o.item = options.text("item", "item");
  o.arrays = splitList(options.text("arrays", ""));
  o.declaration = options.boolean("declaration", true);
  o.pretty = options.boolean("pretty", false);
  if (!o.root.empty() && !validName(o.root))
    throw sdk::InvalidError("XML option 'root' is '" + o.root + "', which is not a valid XML name");
  if (!validName(o.item))
    throw sdk::InvalidError("XML option 'item' is '" + o.item + "', which is not a valid XML name");
  return o;
}

std::string unmarshal(std::string_view xml, const Options& options) {
  pugi::xml_document doc;
  const pugi::xml_parse_result result =
      doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_auto);
  if (!result) {
    const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(result.offset, 0));
    throw sdk::InvalidError("XML is not well-formed at " + describe(positionOf(xml, offset)) +
                            ": " + result.description());
  }
  const pugi::xml_node root = doc.document_element();
  for (pugi::xml_node next = root.next_sibling(); next; next = next.next_sibling()) {
    if (next.type() == pugi::node_element || next.type() == pugi::node_pcdata) {
      // offset_debug() is where the name starts: step back to the '<'.
      const std::ptrdiff_t at = next.offset_debug() - (next.type() == pugi::node_element ? 1 : 0);
      const auto offset = static_cast<std::size_t>(std::max<std::ptrdiff_t>(at, 0));
      throw sdk::InvalidError("XML is not well-formed at " + describe(positionOf(xml, offset)) +
                              ": content after the root element <" + root.name() +
                              "> (a document has exactly one root)");
    }
  }
  const Reader reader(options);
  Json content = reader.element(root, std::string("/") + root.name());
  if (!options.root.empty()) return dumpJson(content);
  Json wrapped = Json::object();
  wrapped[root.name()] = std::move(content);
  return dumpJson(wrapped);
}

std::string marshal(std::string_view json, const Options& options) {
  const Json value = parseJson(json, "the XML format's input");
  std::string root = options.root;
  const Json* content = &value;
  if (root.empty()) {
    if (value.is_object() && value.size() == 1 && value.begin().key().front() != '@' &&
        value.begin().key() != "#text") {
      root = value.begin().key();
      content = &value.begin().value();  // an array there: <root><item>..</item>...</root>
    } else {
      root = "root";
    }
  }
  if (!validName(root)) {
    throw sdk::InvalidError("XML marshal: the root name '" + root + "' is not a valid XML name");
  }
  pugi::xml_document doc;
  if (options.declaration) {
    pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
  }
  const Writer writer(options);
  writer.content(doc.append_child(root.c_str()), *content, "$");
  StringWriter out;
  const unsigned flags = options.pretty ? pugi::format_indent : pugi::format_raw;
  doc.save(out, options.indent.c_str(), flags | pugi::format_no_declaration, pugi::encoding_utf8);
  if (options.declaration && !options.pretty) {
    // format_raw puts everything on one line; keep the declaration on its own.
    const std::size_t end = out.out.find("?>");
    if (end != std::string::npos) out.out.insert(end + 2, "\n");
  }
  if (!options.pretty) out.out.push_back('\n');
  return out.out;
}

}  // namespace busway::formats::xml
