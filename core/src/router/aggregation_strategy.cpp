#include "steps.hpp"

namespace busway {

std::optional<AggregationStrategy::Kind> AggregationStrategy::parse(const std::string& name) {
  if (name == "none") return Kind::none;
  if (name == "json-array") return Kind::json_array;
  if (name == "concat") return Kind::concat;
  if (name == "xml") return Kind::xml;
  if (name == "first") return Kind::first;
  if (name == "last") return Kind::last;
  return std::nullopt;
}

namespace {
// Text and XML bodies, which a json-array takes as strings (JSON media types excepted:
// text/json is JSON). Bodies of unknown type (octets) are read as JSON when they are JSON.
bool isTextMediaType(std::string_view media_type) {
  if (isJsonMediaType(media_type)) return false;
  return isXmlMediaType(media_type) ||
         (media_type.size() >= 5 && equalsIgnoreCase(media_type.substr(0, 5), "text/"));
}

std::string_view withoutXmlDeclaration(std::string_view xml) {
  const auto start = xml.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && xml.compare(start, 5, "<?xml") == 0) {
    const auto end = xml.find("?>", start);
    if (end != std::string_view::npos) xml.remove_prefix(end + 2);
  }
  return xml;
}
}  // namespace

Result<Message> AggregationStrategy::combine(const Message& base,
                                             const std::vector<Message>& parts) const {
  Message out = base;
  switch (kind) {
    case Kind::none: return out;
    case Kind::first:
    case Kind::last:
      if (parts.empty()) return out;
      out.setBody((kind == Kind::first ? parts.front() : parts.back()).bodyPtr());
      return out;
    case Kind::json_array: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& part : parts) {
        // JSON bodies join as values; anything else joins as a string. A text body joins
        // as a string even when it happens to read as JSON (the line "42" stays "42").
        const auto* value = isTextMediaType(part.body().mediaType()) ? nullptr : part.body().json();
        array.push_back(value != nullptr ? *value : nlohmann::json(std::string(part.bodyText())));
      }
      out.setBody(Body::fromJson(array));
      return out;
    }
    case Kind::concat: {
      std::string joined;
      for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) joined += separator;
        joined += parts[i].bodyText();
      }
      out.setBody(std::move(joined),
                  parts.empty() ? std::string(media::text) : parts.front().body().mediaType());
      return out;
    }
    case Kind::xml: {
      std::string xml = "<" + root + ">";
      for (const auto& part : parts) xml += withoutXmlDeclaration(part.bodyText());
      xml += "</" + root + ">";
      out.setBody(std::move(xml), std::string(media::xml));
      return out;
    }
  }
  return out;
}

}  // namespace busway
