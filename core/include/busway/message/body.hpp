#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace pugi {
class xml_document;
}

namespace busway {

// Well-known media types.
namespace media {
inline constexpr std::string_view json = "application/json";
inline constexpr std::string_view xml = "application/xml";
inline constexpr std::string_view text = "text/plain";
inline constexpr std::string_view csv = "text/csv";
inline constexpr std::string_view octets = "application/octet-stream";
}  // namespace media

bool isJsonMediaType(std::string_view media_type) noexcept;
bool isXmlMediaType(std::string_view media_type) noexcept;

// The immutable payload of a message: bytes plus a media type. Parsed views (JSON, XML)
// are built on first use and cached, so ten predicates on one body parse it once. A Body
// is shared between copies of a message; changing a body means making a new one.
//
// Thread-safety: all const members may be called concurrently.
class Body {
 public:
  // Extra zeroed bytes kept after the data so SIMD parsers may read past the end.
  static constexpr std::size_t kPadding = 64;

  static std::shared_ptr<const Body> make(std::string bytes,
                                          std::string media_type = std::string(media::octets));
  static std::shared_ptr<const Body> fromJson(const nlohmann::json& value);
  static const std::shared_ptr<const Body>& empty();

  explicit Body(std::string bytes, std::string media_type);
  ~Body();
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;

  std::string_view bytes() const noexcept { return {bytes_.data(), size_}; }
  std::size_t size() const noexcept { return size_; }
  const std::string& mediaType() const noexcept { return media_type_; }
  // Guaranteed to have kPadding readable bytes after bytes().end().
  const char* paddedData() const noexcept { return bytes_.data(); }

  // Parsed views. nullptr when the bytes are not valid JSON/XML; `error` (if given) then
  // receives the parser's message with its offset.
  const nlohmann::json* json(std::string* error = nullptr) const;
  const pugi::xml_document* xml(std::string* error = nullptr) const;
  // True once json() has run (whether or not the bytes were valid JSON): from then on the
  // cached view is the cheapest way to read the body.
  bool jsonParsed() const noexcept { return json_ready_.load(std::memory_order_acquire); }

 private:
  struct JsonView;
  struct XmlView;

  std::string bytes_;  // data followed by kPadding zero bytes
  std::size_t size_ = 0;
  std::string media_type_;
  mutable std::once_flag json_once_;
  mutable std::once_flag xml_once_;
  mutable std::unique_ptr<JsonView> json_;
  mutable std::unique_ptr<XmlView> xml_;
  mutable std::atomic<bool> json_ready_{false};
};

using BodyPtr = std::shared_ptr<const Body>;

}  // namespace busway
