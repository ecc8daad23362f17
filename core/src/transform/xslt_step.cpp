// <xslt stylesheet="invoice.xsl" allowed-dir="..." media-type="..."> with <param> children:
// XSLT 1.0 with EXSLT through libxslt. The stylesheet is compiled when the table loads;
// xsl:include, xsl:import and document() may only read files inside the allowed folders
// (the stylesheet's own folder by default) and never the network.
#include <algorithm>
#include <filesystem>
#include <mutex>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxslt/security.h>
#include <libxslt/transform.h>
#include <libxslt/variables.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>

#include "../config/element_rules.hpp"
#include "busway/expression/expression.hpp"
#include "busway/util/text.hpp"
#include "transform_steps.hpp"
#include "xml_support.hpp"

namespace busway {
namespace {
namespace fs = std::filesystem;

struct StylesheetDeleter {
  void operator()(xsltStylesheet* style) const { xsltFreeStylesheet(style); }
};
struct DocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocDeleter>;

struct Param {
  std::string name;
  ExpressionPtr value;
};

class XsltTransformer final : public Transformer {
 public:
  XsltTransformer(std::unique_ptr<xsltStylesheet, StylesheetDeleter> style, std::string file,
                  std::vector<std::string> allowed, std::vector<Param> params,
                  std::string media_type)
      : style_(std::move(style)),
        file_(std::move(file)),
        allowed_(std::move(allowed)),
        params_(std::move(params)),
        media_type_(std::move(media_type)) {}

  Result<void> apply(Exchange& exchange) const override {
    std::string error;
    DocPtr input(transform::parseXmlBody(exchange.message.bodyText(), error));
    if (!input) return Error(ErrorKind::invalid, "xslt " + file_ + ": " + error);
    // A message has no location of its own: relative document() URIs resolve against the
    // stylesheet's folder, as they would from the stylesheet itself.
    if (style_->doc != nullptr && style_->doc->URL != nullptr) {
      if (input->URL != nullptr) xmlFree(const_cast<xmlChar*>(input->URL));
      input->URL = xmlStrdup(style_->doc->URL);
    }
    std::vector<std::pair<std::string, std::string>> values;
    for (const auto& param : params_) {
      auto value = param.value->evaluate(exchange);
      if (!value)
        return Error(ErrorKind::invalid, "xslt " + file_ + ": parameter '" + param.name +
                                             "': " + value.error().message);
      values.emplace_back(param.name, toText(*value));
    }
    std::vector<std::string> messages;
    transform::ErrorCapture capture(messages);
    transform::ResourceScope scope(allowed_);
    xsltTransformContextPtr context = xsltNewTransformContext(style_.get(), input.get());
    if (context == nullptr)
      return Error(ErrorKind::permanent,
                   "xslt " + file_ + ": cannot create a transformation context");
    xsltSetCtxtSecurityPrefs(xsltGetDefaultSecurityPrefs(), context);
    for (const auto& [name, value] : values) {
      xsltQuoteOneUserParam(context, reinterpret_cast<const xmlChar*>(name.c_str()),
                            reinterpret_cast<const xmlChar*>(value.c_str()));
    }
    DocPtr result(
        xsltApplyStylesheetUser(style_.get(), input.get(), nullptr, nullptr, nullptr, context));
    const bool failed = context->state == XSLT_STATE_ERROR || context->state == XSLT_STATE_STOPPED;
    xsltFreeTransformContext(context);
    if (!result || failed) {
      return Error(
          ErrorKind::invalid,
          "xslt " + file_ + ": the transformation failed" +
              (messages.empty() ? std::string() : ": " + transform::joinMessages(messages, 10)));
    }
    xmlChar* text = nullptr;
    int length = 0;
    if (xsltSaveResultToString(&text, &length, result.get(), style_.get()) != 0) {
      return Error(ErrorKind::permanent, "xslt " + file_ + ": cannot serialise the result");
    }
    std::string bytes = text != nullptr ? std::string(reinterpret_cast<const char*>(text),
                                                      static_cast<std::size_t>(length))
                                        : std::string();
    xmlFree(text);
    exchange.message.setBody(std::move(bytes), media_type_);
    return {};
  }

 private:
  std::unique_ptr<xsltStylesheet, StylesheetDeleter> style_;
  std::string file_;
  std::vector<std::string> allowed_;
  std::vector<Param> params_;
  std::string media_type_;
};

// The media type of the result: the step's media-type, else xsl:output's media-type or
// method (text -> text/plain, html -> text/html), else application/xml.
std::string resultMediaType(const xsltStylesheet& style) {
  if (style.mediaType != nullptr) return reinterpret_cast<const char*>(style.mediaType);
  if (style.method != nullptr) {
    const std::string method = reinterpret_cast<const char*>(style.method);
    if (method == "text") return "text/plain";
    if (method == "html") return "text/html";
  }
  return "application/xml";
}

}  // namespace

std::shared_ptr<const Transformer> compileXsltStep(const StepDef& step, TransformBuild& build) {
  transform::initXml();
  bool ok = true;
  std::vector<Param> params;
  for (const auto& child : step.children) {
    if (child.kind != "param") continue;
    const auto* name = child.attribute("name");
    for (const auto& language : expressionAttributes()) {
      const auto* attribute = child.attribute(language);
      if (attribute == nullptr) continue;
      auto compiled = compileExpression(language, attribute->value);
      if (compiled.error) {
        build.diagnostics.error(attribute->locate(compiled.error->offset),
                                "invalid " + language + " expression '" + attribute->value +
                                    "': " + compiled.error->message);
        ok = false;
      } else if (name != nullptr) {
        params.push_back({name->value, compiled.expression});
      }
    }
  }
  const auto* stylesheet = step.attribute("stylesheet");
  if (stylesheet == nullptr) return nullptr;  // the loader reported it
  const std::string path = transform::resolvePath(step, stylesheet->value);
  std::vector<std::string> allowed{fs::path(path).parent_path().string()};
  if (const auto* dir = step.attribute("allowed-dir")) {
    for (const auto& part : splitList(dir->value, ',')) {
      if (!trim(part).empty())
        allowed.push_back(transform::resolvePath(step, std::string(trim(part))));
    }
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    build.diagnostics.error(stylesheet->value_where,
                            "cannot read stylesheet '" + path + "': no such file");
    return nullptr;
  }
  // libxslt reports compile errors through process-wide callbacks: one compile at a time.
  static std::mutex compile_mutex;
  std::lock_guard lock(compile_mutex);
  std::vector<std::string> messages;
  transform::ErrorCapture capture(messages);
  transform::ResourceScope scope(allowed);
  xmlDocPtr doc = xmlReadFile(path.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOCDATA);
  xsltStylesheetPtr style = doc != nullptr ? xsltParseStylesheetDoc(doc) : nullptr;
  // libxslt reports some mistakes (an unknown xsl: element) without counting them as errors.
  const bool reported = std::any_of(messages.begin(), messages.end(), [](const std::string& m) {
    return m.find("compilation error") != std::string::npos;
  });
  if (style == nullptr || style->errors > 0 || reported) {
    if (style != nullptr)
      xsltFreeStylesheet(style);
    else if (doc != nullptr)
      xmlFreeDoc(doc);
    build.diagnostics.error(
        stylesheet->value_where,
        "stylesheet '" + path + "' does not compile: " +
            (messages.empty() ? "unknown error" : transform::joinMessages(messages, 10)));
    return nullptr;
  }
  std::string media_type = resultMediaType(*style);
  if (const auto* media = step.attribute("media-type")) media_type = media->value;
  if (!ok) {
    xsltFreeStylesheet(style);
    return nullptr;
  }
  return std::make_shared<XsltTransformer>(
      std::unique_ptr<xsltStylesheet, StylesheetDeleter>(style), stylesheet->value,
      std::move(allowed), std::move(params), std::move(media_type));
}

}  // namespace busway
