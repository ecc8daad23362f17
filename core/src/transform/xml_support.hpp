#pragma once

// libxml2 / libxslt set-up shared by <xslt> and <validate xsd>: one-time initialisation,
// the resource policy (no network, files only inside allowed folders), and collection of
// the libraries' error messages with their lines.

#include <string>
#include <string_view>
#include <vector>

struct _xmlDoc;

namespace busway::transform {

// Initialises libxml2, libxslt and EXSLT once, and installs the custom entity loader,
// the stylesheet/document loader and the default XSLT security preferences.
void initXml();

// While alive, the thread may read files inside `folders` (and nothing else) through
// libxml2/libxslt: xsl:include/import, document(), xs:include. Network access is always
// refused. Without a scope, files may be read but the network still cannot.
class ResourceScope {
 public:
  explicit ResourceScope(std::vector<std::string> folders);
  ~ResourceScope();
  ResourceScope(const ResourceScope&) = delete;
  ResourceScope& operator=(const ResourceScope&) = delete;

 private:
  const ResourceScope* previous_;
  std::vector<std::string> folders_;
  friend bool resourceAllowed(std::string_view url, std::string* why);
};

// Whether the current thread may read `url`; `why` says why not.
bool resourceAllowed(std::string_view url, std::string* why);

// While alive, libxml2 and libxslt error messages raised on this thread are appended to
// `messages` (one line each: "FILE:LINE: message" or "line N: message").
class ErrorCapture {
 public:
  explicit ErrorCapture(std::vector<std::string>& messages);
  ~ErrorCapture();
  ErrorCapture(const ErrorCapture&) = delete;
  ErrorCapture& operator=(const ErrorCapture&) = delete;

 private:
  std::vector<std::string>* previous_;
};

// Appends a message to the capture of this thread (used by error callbacks).
void captureError(std::string message);

// Parses a message body as XML without network access, external entities or DTD loading.
// Null with `error` set ("line N: ...") when the body is not well-formed.
_xmlDoc* parseXmlBody(std::string_view bytes, std::string& error);

// "first; second; ..." for error messages.
std::string joinMessages(const std::vector<std::string>& messages, std::size_t limit = 50);

}  // namespace busway::transform
