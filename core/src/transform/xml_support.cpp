#include "xml_support.hpp"

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include <libexslt/exslt.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/uri.h>
#include <libxml/xmlerror.h>
#include <libxslt/documents.h>
#include <libxslt/security.h>
#include <libxslt/xslt.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>

#include "busway/util/log.hpp"

namespace busway::transform {
namespace fs = std::filesystem;

namespace {

thread_local const ResourceScope* t_scope = nullptr;
thread_local std::vector<std::string>* t_messages = nullptr;
thread_local std::string t_partial;  // generic error callbacks deliver a message in pieces

xmlExternalEntityLoader g_default_entity_loader = nullptr;
xsltDocLoaderFunc g_default_doc_loader = nullptr;

std::string trimNewlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

void structuredError(void*, xmlErrorPtr error) {
  if (error == nullptr || error->message == nullptr) return;
  std::string where;
  if (error->file != nullptr && error->line > 0)
    where = std::string(error->file) + ":" + std::to_string(error->line) + ": ";
  else if (error->line > 0)
    where = "line " + std::to_string(error->line) + ": ";
  captureError(where + trimNewlines(error->message));
}

// libxslt reports through a printf-like callback, often in several calls per message.
void genericError(void*, const char* format, ...) {
  char buffer[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  t_partial += buffer;
  std::size_t newline;
  while ((newline = t_partial.find('\n')) != std::string::npos) {
    std::string line = t_partial.substr(0, newline);
    t_partial.erase(0, newline + 1);
    if (!trimNewlines(line).empty()) captureError(trimNewlines(line));
  }
}

xmlParserInputPtr entityLoader(const char* url, const char* id, xmlParserCtxtPtr context) {
  std::string why;
  const std::string what = url != nullptr ? url : (id != nullptr ? id : "");
  if (!resourceAllowed(what, &why)) {
    captureError("refused to load '" + what + "': " + why);
    return nullptr;
  }
  return g_default_entity_loader(url, id, context);
}

xmlDocPtr docLoader(const xmlChar* uri, xmlDictPtr dict, int options, void* context,
                    xsltLoadType type) {
  const std::string what = uri != nullptr ? reinterpret_cast<const char*>(uri) : "";
  std::string why;
  if (!resourceAllowed(what, &why)) {
    captureError("refused to load '" + what + "': " + why);
    return nullptr;
  }
  return g_default_doc_loader(uri, dict, options | XML_PARSE_NONET, context, type);
}

int checkRead(xsltSecurityPrefsPtr, xsltTransformContextPtr, const char* value) {
  std::string why;
  if (resourceAllowed(value != nullptr ? value : "", &why)) return 1;
  captureError("refused to read '" + std::string(value != nullptr ? value : "") + "': " + why);
  return 0;
}

int forbid(xsltSecurityPrefsPtr, xsltTransformContextPtr, const char* value) {
  captureError("refused: stylesheets may not write files, create folders or use the network ('" +
               std::string(value != nullptr ? value : "") + "')");
  return 0;
}

bool hasScheme(std::string_view url, std::string* scheme) {
  const auto colon = url.find(':');
  if (colon == std::string_view::npos || colon < 2)
    return false;  // "C:" is not a scheme we see here
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = url[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'))
      return false;
  }
  *scheme = std::string(url.substr(0, colon));
  return true;
}

bool inside(const fs::path& file, const fs::path& folder) {
  const auto f = file.lexically_normal();
  const auto d = folder.lexically_normal();
  auto fi = f.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++fi) {
    if (di->empty()) continue;  // trailing separator
    if (fi == f.end() || *fi != *di) return false;
  }
  return true;
}

}  // namespace

void initXml() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    exsltRegisterAll();
    g_default_entity_loader = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(entityLoader);
    g_default_doc_loader = xsltDocDefaultLoader;
    xsltSetLoaderFunc(docLoader);
    xsltSecurityPrefsPtr prefs = xsltNewSecurityPrefs();
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_FILE, checkRead);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_FILE, forbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_CREATE_DIRECTORY, forbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_READ_NETWORK, forbid);
    xsltSetSecurityPrefs(prefs, XSLT_SECPREF_WRITE_NETWORK, forbid);
    xsltSetDefaultSecurityPrefs(prefs);
    xsltSetGenericErrorFunc(nullptr, genericError);
    xmlThrDefSetGenericErrorFunc(nullptr, genericError);
    xmlSetGenericErrorFunc(nullptr, genericError);
    xmlThrDefSetStructuredErrorFunc(nullptr, structuredError);
    xmlSetStructuredErrorFunc(nullptr, structuredError);
  });
  // libxml2 keeps error handlers per thread; a thread that has not set them yet gets the
  // defaults set above (xmlThrDef...), but threads that existed before do not.
  thread_local bool thread_ready = false;
  if (!thread_ready) {
    xmlSetGenericErrorFunc(nullptr, genericError);
    xmlSetStructuredErrorFunc(nullptr, structuredError);
    thread_ready = true;
  }
}

ResourceScope::ResourceScope(std::vector<std::string> folders)
    : previous_(t_scope), folders_(std::move(folders)) {
  t_scope = this;
}
ResourceScope::~ResourceScope() { t_scope = previous_; }

bool resourceAllowed(std::string_view url, std::string* why) {
  std::string scheme;
  std::string path(url);
  if (hasScheme(url, &scheme)) {
    if (scheme != "file") {
      if (why) *why = "network access (" + scheme + ":) is not allowed in transformations";
      return false;
    }
    // file:///abs/path or file:/abs/path
    path = std::string(url.substr(5));
    if (path.rfind("//", 0) == 0) {
      const auto slash = path.find('/', 2);
      const std::string host =
          path.substr(2, slash == std::string::npos ? std::string::npos : slash - 2);
      if (!host.empty() && host != "localhost") {
        if (why) *why = "network access (file://" + host + ") is not allowed in transformations";
        return false;
      }
      path = slash == std::string::npos ? "/" : path.substr(slash);
    }
    if (char* unescaped = xmlURIUnescapeString(path.c_str(), 0, nullptr)) {
      path = unescaped;
      xmlFree(unescaped);
    }
  }
  const ResourceScope* scope = t_scope;
  if (scope == nullptr) return true;
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(fs::absolute(path, ec), ec);
  for (const auto& folder : scope->folders_) {
    const fs::path allowed = fs::weakly_canonical(fs::absolute(folder, ec), ec);
    if (inside(file, allowed)) return true;
  }
  if (why) {
    std::string list;
    for (const auto& folder : scope->folders_) list += (list.empty() ? "" : ", ") + folder;
    *why = "only files inside " + list + " may be read (set allowed-dir to widen this)";
  }
  return false;
}

ErrorCapture::ErrorCapture(std::vector<std::string>& messages) : previous_(t_messages) {
  initXml();
  t_messages = &messages;
  t_partial.clear();
}
ErrorCapture::~ErrorCapture() {
  if (!t_partial.empty()) {
    const std::string rest = trimNewlines(t_partial);
    t_partial.clear();
    if (!rest.empty()) captureError(rest);
  }
  t_messages = previous_;
}

void captureError(std::string message) {
  if (t_messages != nullptr) {
    t_messages->push_back(std::move(message));
  } else {
    logWarn("xml", message);
  }
}

_xmlDoc* parseXmlBody(std::string_view bytes, std::string& error) {
  std::vector<std::string> messages;
  ErrorCapture capture(messages);
  xmlDocPtr doc = xmlReadMemory(bytes.data(), static_cast<int>(bytes.size()), "message.xml",
                                nullptr, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NONET);
  if (doc == nullptr) {
    error = messages.empty() ? "the body is not well-formed XML"
                             : "the body is not well-formed XML: " + joinMessages(messages, 5);
  }
  return doc;
}

std::string joinMessages(const std::vector<std::string>& messages, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < messages.size() && i < limit; ++i)
    out += (i == 0 ? "" : "; ") + messages[i];
  if (messages.size() > limit)
    out += "; ... (" + std::to_string(messages.size() - limit) + " more)";
  return out;
}

}  // namespace busway::transform
