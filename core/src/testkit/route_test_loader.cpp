// Reads *.test.xml files (namespace urn:busway:test:1) into RouteTest values.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <pugixml.hpp>

#include "busway/testkit/route_test.hpp"
#include "busway/util/text.hpp"

namespace busway::testkit {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kNamespace = "urn:busway:test:1";

// Line and column of byte offsets in one file.
class Positions {
 public:
  Positions(std::string file, const std::string& text) : file_(std::move(file)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') line_starts_.push_back(i + 1);
  }
  SourceLocation at(std::ptrdiff_t offset) const {
    if (offset < 0) return {file_, 0, 0};
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(),
                                     static_cast<std::size_t>(offset));
    const auto line = static_cast<int>(it - line_starts_.begin());
    // offset_debug() points at the element name; step back over '<' so columns match editors.
    const auto column = static_cast<int>(static_cast<std::size_t>(offset) - *(it - 1));
    return {file_, line, std::max(1, column)};
  }
  SourceLocation at(const pugi::xml_node& node) const { return at(node.offset_debug()); }

 private:
  std::string file_;
  std::vector<std::size_t> line_starts_;
};

std::string mediaTypeFor(const fs::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".json") return "application/json";
  if (ext == ".xml" || ext == ".xsl") return "application/xml";
  if (ext == ".csv") return "text/csv";
  if (ext == ".hl7") return "x-application/hl7-v2+er7";
  return "text/plain";
}

Compare compareFor(const std::string& media_type) {
  if (media_type.find("json") != std::string::npos) return Compare::json;
  if (media_type.find("xml") != std::string::npos) return Compare::xml;
  return Compare::text;
}

bool readFile(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

// The element's own text (character data and CDATA), trimmed of surrounding blank lines
// only when the element also has child elements would be ambiguous; we take it as written.
std::string ownText(const pugi::xml_node& node) {
  std::string text;
  for (const auto& child : node.children())
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata)
      text += child.value();
  // Inline bodies are usually indented on their own lines: trim leading/trailing whitespace.
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

class Loader {
 public:
  Loader(const std::string& path, const std::string& text, Diagnostics& diagnostics)
      : path_(path),
        dir_(fs::path(path).parent_path()),
        positions_(path, text),
        diagnostics_(diagnostics) {}

  RouteTest load(const pugi::xml_document& document) {
    RouteTest test;
    test.file = path_;
    test.name = fs::path(path_).filename().string();
    if (const auto suffix = test.name.rfind(".test.xml"); suffix != std::string::npos)
      test.name.resize(suffix);
    const pugi::xml_node root = document.document_element();
    if (std::string_view(root.name()) != "route-test") {
      error(root, std::string("the root element must be <route-test xmlns=\"") +
                      std::string(kNamespace) + "\">, not <" + root.name() + ">");
      return test;
    }
    if (std::string_view(root.attribute("xmlns").value()) != kNamespace)
      error(root,
            std::string("<route-test> must declare xmlns=\"") + std::string(kNamespace) + "\"");
    check(root, {"xmlns", "name", "timeout"});
    if (const auto name = root.attribute("name")) test.name = name.value();
    if (const auto timeout = root.attribute("timeout")) {
      if (const auto ms = parseDuration(timeout.value()))
        test.timeout = *ms;
      else
        error(root, std::string("timeout '") + timeout.value() +
                        "' is not a duration such as 5s or 500ms");
    }
    for (const auto& child : root.children()) {
      if (child.type() != pugi::node_element) continue;
      const std::string_view kind = child.name();
      if (kind == "table")
        table(child, test);
      else if (kind == "env") {
        check(child, {"name", "value"});
        test.env.emplace_back(required(child, "name"), child.attribute("value").value());
      } else if (kind == "stub")
        test.stubs.push_back(stub(child));
      else if (kind == "send")
        test.sends.push_back(send(child));
      else if (kind == "expect")
        test.expects.push_back(expect(child));
      else
        error(child, std::string("unknown element <") + child.name() +
                         "> (expected table, env, stub, send or expect)");
    }
    if (test.tables.empty())
      error(root, "the test names no routing table: add <table file=\"../routes.xml\"/>");
    if (test.sends.empty())
      error(root, "the test sends nothing: add <send to=\"ENDPOINT\" file=\"input.json\"/>");
    return test;
  }

 private:
  void error(const pugi::xml_node& node, const std::string& message) {
    diagnostics_.error(positions_.at(node), message);
  }

  void check(const pugi::xml_node& node, std::initializer_list<std::string_view> allowed) {
    for (const auto& attribute : node.attributes()) {
      const std::string_view name = attribute.name();
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(node, "<" + std::string(node.name()) + "> has no attribute '" + std::string(name) +
                        "' (it takes " + list + ")");
      }
    }
  }

  std::string required(const pugi::xml_node& node, const char* name) {
    const auto attribute = node.attribute(name);
    if (!attribute || std::string_view(attribute.value()).empty())
      error(node, "<" + std::string(node.name()) + "> needs the attribute '" + name + "'");
    return attribute.value();
  }

  void table(const pugi::xml_node& node, RouteTest& test) {
    check(node, {"file"});
    const std::string file = required(node, "file");
    if (file.empty()) return;
    const fs::path full = fs::weakly_canonical(dir_ / file);
    if (!fs::exists(full))
      error(node, "routing table '" + file + "' not found (looked at " + full.string() + ")");
    test.tables.push_back(full.string());
  }

  // Reads a body from `file=` or the element's text, with headers from <header> children.
  MessageSpec message(const pugi::xml_node& node, bool body_required) {
    MessageSpec spec;
    spec.where = positions_.at(node);
    if (const auto file = node.attribute("file")) {
      const fs::path full = dir_ / file.value();
      spec.source = full.string();
      if (!readFile(full, spec.body))
        error(node, std::string("cannot read '") + file.value() + "' (" + full.string() + ")");
      spec.media_type = mediaTypeFor(full);
      spec.has_body = true;
    } else {
      spec.body = ownText(node);
      spec.has_body = !spec.body.empty() || body_required;
      spec.media_type = !spec.body.empty() && (spec.body.front() == '{' || spec.body.front() == '[')
                            ? "application/json"
                        : !spec.body.empty() && spec.body.front() == '<' ? "application/xml"
                                                                         : "text/plain";
    }
    if (const auto media = node.attribute("media-type")) spec.media_type = media.value();
    spec.compare = compareFor(spec.media_type);
    if (const auto compare = node.attribute("compare")) {
      const std::string_view mode = compare.value();
      if (mode == "text")
        spec.compare = Compare::text;
      else if (mode == "json")
        spec.compare = Compare::json;
      else if (mode == "xml")
        spec.compare = Compare::xml;
      else
        error(node, "compare must be text, json or xml, not '" + std::string(mode) + "'");
    }
    for (const auto& header : node.children("header")) {
      check(header, {"name", "value"});
      spec.headers.emplace_back(required(header, "name"), header.attribute("value").value());
    }
    return spec;
  }

  StubSpec stub(const pugi::xml_node& node) {
    check(node, {"endpoint", "fail", "fail-kind"});
    StubSpec spec;
    spec.where = positions_.at(node);
    spec.endpoint = required(node, "endpoint");
    if (const auto fail = node.attribute("fail")) {
      const auto n = parseInteger(fail.value());
      if (!n || *n < 0)
        error(node, std::string("fail must be a count of sends, not '") + fail.value() + "'");
      else
        spec.fail_first = static_cast<int>(*n);
    }
    if (const auto kind = node.attribute("fail-kind")) {
      spec.fail_kind = kind.value();
      static const std::vector<std::string> kinds = {"transient", "permanent", "invalid", "timeout",
                                                     "rejected"};
      if (std::find(kinds.begin(), kinds.end(), spec.fail_kind) == kinds.end())
        error(node, "fail-kind must be transient, permanent, invalid, timeout or rejected, not '" +
                        spec.fail_kind + "'");
    }
    for (const auto& child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      if (std::string_view(child.name()) == "reply") {
        check(child, {"file", "media-type"});
        spec.reply = message(child, true);
      } else {
        error(child,
              std::string("unknown element <") + child.name() + "> in <stub> (expected reply)");
      }
    }
    return spec;
  }

  SendSpec send(const pugi::xml_node& node) {
    check(node, {"to", "file", "media-type", "pattern", "outcome"});
    SendSpec spec;
    spec.where = positions_.at(node);
    spec.endpoint = required(node, "to");
    spec.message = message(node, true);
    const std::string_view pattern = node.attribute("pattern").as_string("in-only");
    if (pattern == "in-out")
      spec.in_out = true;
    else if (pattern != "in-only")
      error(node, "pattern must be in-only or in-out, not '" + std::string(pattern) + "'");
    const std::string_view outcome = node.attribute("outcome").as_string("ok");
    if (outcome == "failed")
      spec.expect_failure = true;
    else if (outcome != "ok")
      error(node, "outcome must be ok or failed, not '" + std::string(outcome) + "'");
    for (const auto& child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      const std::string_view kind = child.name();
      if (kind == "reply") {
        check(child, {"file", "media-type", "compare"});
        spec.expected_reply = message(child, false);
        spec.in_out = true;
      } else if (kind != "header") {
        error(child, std::string("unknown element <") + child.name() +
                         "> in <send> (expected header or reply)");
      }
    }
    return spec;
  }

  ExpectSpec expect(const pugi::xml_node& node) {
    check(node, {"endpoint", "count", "order"});
    ExpectSpec spec;
    spec.where = positions_.at(node);
    spec.endpoint = required(node, "endpoint");
    std::size_t next = 0;
    for (const auto& child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      if (std::string_view(child.name()) != "message") {
        error(child,
              std::string("unknown element <") + child.name() + "> in <expect> (expected message)");
        continue;
      }
      check(child, {"index", "file", "media-type", "compare"});
      std::size_t index = next;
      if (const auto at = child.attribute("index")) {
        const auto n = parseInteger(at.value());
        if (!n || *n < 0)
          error(child, std::string("index must be a position from 0, not '") + at.value() + "'");
        else
          index = static_cast<std::size_t>(*n);
      }
      spec.messages.emplace_back(index, message(child, false));
      next = index + 1;
    }
    spec.count = next;
    if (const auto count = node.attribute("count")) {
      const auto n = parseInteger(count.value());
      if (!n || *n < 0)
        error(node, std::string("count must be a number of messages, not '") + count.value() + "'");
      else
        spec.count = static_cast<std::size_t>(*n);
      if (spec.count < next)
        error(node, "count " + std::to_string(spec.count) + " is below the messages listed (" +
                        std::to_string(next) + ")");
    }
    const std::string_view order = node.attribute("order").as_string("exact");
    if (order == "any")
      spec.any_order = true;
    else if (order != "exact")
      error(node, "order must be exact or any, not '" + std::string(order) + "'");
    return spec;
  }

  std::string path_;
  fs::path dir_;
  Positions positions_;
  Diagnostics& diagnostics_;
};

}  // namespace

RouteTest loadRouteTest(const std::string& path, Diagnostics& diagnostics) {
  std::string text;
  if (!readFile(path, text)) {
    diagnostics.error({path, 0, 0}, "cannot read the test file");
    return {};
  }
  pugi::xml_document document;
  const auto parsed = document.load_buffer(text.data(), text.size());
  if (!parsed) {
    diagnostics.error(Positions(path, text).at(parsed.offset),
                      std::string("malformed XML: ") + parsed.description());
    return {};
  }
  return Loader(path, text, diagnostics).load(document);
}

std::vector<std::string> findRouteTests(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return {path};
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file() && name.size() > 9 && name.ends_with(".test.xml"))
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace busway::testkit
