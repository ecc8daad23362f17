// <validate schema="order-1.schema.json"/> (JSON Schema, the subset in json_schema.hpp) and
// <validate xsd="order-1.xsd"/> (libxml2). A message that does not validate fails with
// ErrorKind::invalid and every violation, each with its place (JSON pointer / XPath), so
// the error handler dead-letters it without retrying.
#include <filesystem>
#include <mutex>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <nlohmann/json.hpp>

#include "busway/transform/json_schema.hpp"
#include "transform_steps.hpp"
#include "xml_support.hpp"

namespace busway {
namespace {
namespace fs = std::filesystem;

constexpr std::size_t kMaxListed = 100;

std::string describe(const std::string& what, const std::vector<std::string>& violations) {
  std::string out = what + ": " + std::to_string(violations.size()) + " violation(s): ";
  for (std::size_t i = 0; i < violations.size() && i < kMaxListed; ++i)
    out += (i == 0 ? "" : "; ") + violations[i];
  if (violations.size() > kMaxListed)
    out += "; ... (" + std::to_string(violations.size() - kMaxListed) + " more)";
  return out;
}

class JsonValidator final : public Transformer {
 public:
  JsonValidator(std::shared_ptr<const JsonSchema> schema, std::string name)
      : schema_(std::move(schema)), name_(std::move(name)) {}
  Result<void> apply(Exchange& exchange) const override {
    std::string error;
    const nlohmann::json* document = exchange.message.body().json(&error);
    if (document == nullptr)
      return Error(ErrorKind::invalid, "validate " + name_ + ": the body is not JSON: " + error);
    const auto violations = schema_->validate(*document);
    if (violations.empty()) return {};
    std::vector<std::string> lines;
    for (const auto& v : violations) lines.push_back(v.toString());
    return Error(ErrorKind::invalid, describe("validate " + name_, lines));
  }

 private:
  std::shared_ptr<const JsonSchema> schema_;
  std::string name_;
};

struct SchemaDeleter {
  void operator()(xmlSchema* schema) const { xmlSchemaFree(schema); }
};

struct XsdErrors {
  std::vector<std::string> lines;
};

void collectValidationError(void* data, xmlErrorPtr error) {
  if (error == nullptr || error->message == nullptr) return;
  auto* errors = static_cast<XsdErrors*>(data);
  std::string message = error->message;
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string where;
  if (error->node != nullptr) {
    if (xmlChar* path = xmlGetNodePath(static_cast<xmlNodePtr>(error->node))) {
      where = reinterpret_cast<const char*>(path);
      xmlFree(path);
    }
  }
  if (error->line > 0)
    where += (where.empty() ? "" : " ") + std::string("(line ") + std::to_string(error->line) + ")";
  errors->lines.push_back((where.empty() ? "" : where + ": ") + message);
}

class XsdValidator final : public Transformer {
 public:
  XsdValidator(std::unique_ptr<xmlSchema, SchemaDeleter> schema, std::string name)
      : schema_(std::move(schema)), name_(std::move(name)) {}
  Result<void> apply(Exchange& exchange) const override {
    std::string error;
    std::unique_ptr<xmlDoc, void (*)(xmlDocPtr)> doc(
        transform::parseXmlBody(exchange.message.bodyText(), error), xmlFreeDoc);
    if (!doc) return Error(ErrorKind::invalid, "validate " + name_ + ": " + error);
    XsdErrors errors;
    xmlSchemaValidCtxtPtr context = xmlSchemaNewValidCtxt(schema_.get());
    if (context == nullptr)
      return Error(ErrorKind::permanent,
                   "validate " + name_ + ": cannot create a validation context");
    xmlSchemaSetValidStructuredErrors(context, collectValidationError, &errors);
    const int rc = xmlSchemaValidateDoc(context, doc.get());
    xmlSchemaFreeValidCtxt(context);
    if (rc == 0) return {};
    if (errors.lines.empty())
      errors.lines.push_back(rc < 0 ? "internal validation error" : "the document is not valid");
    return Error(ErrorKind::invalid, describe("validate " + name_, errors.lines));
  }

 private:
  std::unique_ptr<xmlSchema, SchemaDeleter> schema_;
  std::string name_;
};

std::shared_ptr<const Transformer> compileXsd(const AttributeDef& attribute,
                                              const std::string& path, TransformBuild& build) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    build.diagnostics.error(attribute.value_where,
                            "cannot read XML schema '" + path + "': no such file");
    return nullptr;
  }
  static std::mutex compile_mutex;
  std::lock_guard lock(compile_mutex);
  std::vector<std::string> messages;
  transform::ErrorCapture capture(messages);
  transform::ResourceScope scope({fs::path(path).parent_path().string()});
  xmlSchemaParserCtxtPtr parser = xmlSchemaNewParserCtxt(path.c_str());
  xmlSchemaPtr schema = parser != nullptr ? xmlSchemaParse(parser) : nullptr;
  if (parser != nullptr) xmlSchemaFreeParserCtxt(parser);
  if (schema == nullptr) {
    build.diagnostics.error(
        attribute.value_where,
        "XML schema '" + path + "' does not compile: " +
            (messages.empty() ? "unknown error" : transform::joinMessages(messages, 10)));
    return nullptr;
  }
  return std::make_shared<XsdValidator>(std::unique_ptr<xmlSchema, SchemaDeleter>(schema),
                                        attribute.value);
}

}  // namespace

std::shared_ptr<const Transformer> compileValidateStep(const StepDef& step, TransformBuild& build) {
  if (const auto* xsd = step.attribute("xsd")) {
    transform::initXml();
    return compileXsd(*xsd, transform::resolvePath(step, xsd->value), build);
  }
  const auto* schema = step.attribute("schema");
  if (schema == nullptr) return nullptr;  // the loader reported it
  auto compiled = JsonSchema::load(transform::resolvePath(step, schema->value));
  if (!compiled) {
    build.diagnostics.error(schema->value_where, compiled.error().message);
    return nullptr;
  }
  return std::make_shared<JsonValidator>(std::move(*compiled), schema->value);
}

}  // namespace busway
