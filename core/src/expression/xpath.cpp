#include <cmath>
#include <limits>
#include <memory>

#include <pugixml.hpp>

#include "busway/message/body.hpp"
#include "languages.hpp"

namespace busway::expr {

namespace {

class StringWriter final : public pugi::xml_writer {
 public:
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
  std::string out;
};

// XPath's string-value: the text of a node and all its descendants.
std::string stringValue(const pugi::xpath_node& match) {
  if (match.attribute()) return match.attribute().value();
  pugi::xml_node node = match.node();
  switch (node.type()) {
    case pugi::node_element:
    case pugi::node_document: {
      std::string out;
      for (pugi::xml_node n = node.first_child(); n;) {
        if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) out += n.value();
        // Depth-first without recursion: down, else across, else up until across works.
        if (n.first_child()) {
          n = n.first_child();
        } else {
          while (n && n != node && !n.next_sibling()) n = n.parent();
          if (!n || n == node) break;
          n = n.next_sibling();
        }
      }
      return out;
    }
    default: return node.value();
  }
}

// A node as split hands it on: elements as XML text, attributes and text as their value.
std::string serialize(const pugi::xpath_node& match) {
  if (match.attribute()) return match.attribute().value();
  pugi::xml_node node = match.node();
  if (node.type() != pugi::node_element && node.type() != pugi::node_document) return node.value();
  StringWriter writer;
  node.print(writer, "", pugi::format_raw | pugi::format_no_declaration);
  return std::move(writer.out);
}

class XPathExpression final : public Expression {
 public:
  XPathExpression(std::string text, std::unique_ptr<pugi::xpath_query> query)
      : Expression(std::move(text)), query_(std::move(query)) {}

  std::string_view language() const noexcept override { return "xpath"; }

  Result<Value> evaluate(const Exchange& exchange) const override {
    try {
      auto doc = document(exchange);
      if (!doc) return std::move(doc).error();
      switch (query_->return_type()) {
        case pugi::xpath_type_node_set: {
          pugi::xpath_node_set nodes = query_->evaluate_node_set(**doc);
          if (nodes.empty()) return Value();
          return Value(stringValue(nodes.first()));
        }
        case pugi::xpath_type_number: {
          double d = query_->evaluate_number(**doc);
          // count(), sum() of integers: hand back an integer so headers and text stay "3", not
          // "3.0".
          if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15)
            return Value(static_cast<std::int64_t>(d));
          return Value(d);
        }
        case pugi::xpath_type_string: return Value(query_->evaluate_string(**doc));
        case pugi::xpath_type_boolean: return Value(query_->evaluate_boolean(**doc));
        default: return Value();
      }
    } catch (const std::exception& e) {
      return Error(ErrorKind::permanent, std::string("XPath evaluation failed: ") + e.what());
    }
  }

  Result<std::vector<Value>> select(const Exchange& exchange) const override {
    if (query_->return_type() != pugi::xpath_type_node_set) return Expression::select(exchange);
    try {
      auto doc = document(exchange);
      if (!doc) return std::move(doc).error();
      pugi::xpath_node_set nodes = query_->evaluate_node_set(**doc);
      nodes.sort();  // document order, whatever order the axes produced
      std::vector<Value> out;
      out.reserve(nodes.size());
      for (const auto& node : nodes) out.emplace_back(serialize(node));
      return out;
    } catch (const std::exception& e) {
      return Error(ErrorKind::permanent, std::string("XPath evaluation failed: ") + e.what());
    }
  }

  Result<bool> test(const Exchange& exchange) const override {
    try {
      auto doc = document(exchange);
      if (!doc) return std::move(doc).error();
      return query_->evaluate_boolean(**doc);
    } catch (const std::exception& e) {
      return Error(ErrorKind::permanent, std::string("XPath evaluation failed: ") + e.what());
    }
  }

 private:
  static Result<const pugi::xml_document*> document(const Exchange& exchange) {
    std::string error;
    const pugi::xml_document* doc = exchange.message.body().xml(&error);
    if (!doc) return Error(ErrorKind::invalid, "XPath on a body that is not XML: " + error);
    return doc;
  }

  // xpath_query's evaluate functions are const and keep their scratch memory per call,
  // so one compiled query serves every thread.
  std::unique_ptr<pugi::xpath_query> query_;
};

}  // namespace

CompiledExpression compileXPath(std::string_view text) {
  CompiledExpression out;
  std::string source(text);
  std::unique_ptr<pugi::xpath_query> query;
  pugi::xpath_parse_result result;
  try {
    query = std::make_unique<pugi::xpath_query>(source.c_str());
    result = query->result();
  } catch (const pugi::xpath_exception& e) {
    result = e.result();
  }
  if (!result) {
    auto offset = result.offset < 0 ? std::size_t{0} : static_cast<std::size_t>(result.offset);
    out.error = ExpressionError{offset, std::string("XPath: ") + result.description()};
    return out;
  }
  out.expression = std::make_shared<XPathExpression>(std::move(source), std::move(query));
  return out;
}

}  // namespace busway::expr
