#include "busway/message/body.hpp"

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "busway/message/headers.hpp"

namespace busway {

namespace {

// The media type without parameters ("; charset=utf-8") and surrounding blanks.
std::string_view essence(std::string_view media_type) noexcept {
  if (auto semicolon = media_type.find(';'); semicolon != std::string_view::npos) {
    media_type = media_type.substr(0, semicolon);
  }
  while (!media_type.empty() && (media_type.back() == ' ' || media_type.back() == '\t'))
    media_type.remove_suffix(1);
  while (!media_type.empty() && (media_type.front() == ' ' || media_type.front() == '\t'))
    media_type.remove_prefix(1);
  return media_type;
}

bool endsWithIgnoreCase(std::string_view text, std::string_view suffix) noexcept {
  return text.size() >= suffix.size() &&
         equalsIgnoreCase(text.substr(text.size() - suffix.size()), suffix);
}

}  // namespace

bool isJsonMediaType(std::string_view media_type) noexcept {
  auto type = essence(media_type);
  return equalsIgnoreCase(type, "application/json") || equalsIgnoreCase(type, "text/json") ||
         endsWithIgnoreCase(type, "+json");
}

bool isXmlMediaType(std::string_view media_type) noexcept {
  auto type = essence(media_type);
  return equalsIgnoreCase(type, "application/xml") || equalsIgnoreCase(type, "text/xml") ||
         endsWithIgnoreCase(type, "+xml");
}

struct Body::JsonView {
  nlohmann::json value;
  bool ok = false;
  std::string error;
};

struct Body::XmlView {
  pugi::xml_document document;
  bool ok = false;
  std::string error;
};

Body::Body(std::string bytes, std::string media_type)
    : bytes_(std::move(bytes)), size_(bytes_.size()), media_type_(std::move(media_type)) {
  bytes_.append(kPadding, '\0');
}

Body::~Body() = default;

std::shared_ptr<const Body> Body::make(std::string bytes, std::string media_type) {
  return std::make_shared<const Body>(std::move(bytes), std::move(media_type));
}

std::shared_ptr<const Body> Body::fromJson(const nlohmann::json& value) {
  // replace: a string holding invalid UTF-8 must not turn into an exception here.
  return make(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
              std::string(media::json));
}

const std::shared_ptr<const Body>& Body::empty() {
  static const std::shared_ptr<const Body> body = make({}, std::string(media::octets));
  return body;
}

const nlohmann::json* Body::json(std::string* error) const {
  std::call_once(json_once_, [this] {
    auto view = std::make_unique<JsonView>();
    try {
      view->value = nlohmann::json::parse(bytes().begin(), bytes().end());
      view->ok = true;
    } catch (const nlohmann::json::parse_error& e) {
      // nlohmann counts bytes from 1; report a 0-based offset like every other offset we give.
      std::string what = e.what();
      if (auto close = what.find("] ");
          what.starts_with("[json.exception") && close != std::string::npos) {
        what.erase(0, close + 2);
      }
      view->error =
          "invalid JSON at byte " + std::to_string(e.byte > 0 ? e.byte - 1 : 0) + ": " + what;
    } catch (const std::exception& e) {
      view->error = std::string("invalid JSON: ") + e.what();
    }
    json_ = std::move(view);
    json_ready_.store(true, std::memory_order_release);
  });
  if (!json_->ok) {
    if (error) *error = json_->error;
    return nullptr;
  }
  return &json_->value;
}

const pugi::xml_document* Body::xml(std::string* error) const {
  std::call_once(xml_once_, [this] {
    auto view = std::make_unique<XmlView>();
    // load_buffer copies the bytes; our buffer stays immutable and shared.
    pugi::xml_parse_result result = view->document.load_buffer(bytes_.data(), size_);
    if (result) {
      view->ok = true;
    } else {
      view->error =
          "invalid XML at byte " + std::to_string(result.offset) + ": " + result.description();
    }
    xml_ = std::move(view);
  });
  if (!xml_->ok) {
    if (error) *error = xml_->error;
    return nullptr;
  }
  return &xml_->document;
}

}  // namespace busway
