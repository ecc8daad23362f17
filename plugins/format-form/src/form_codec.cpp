#include "form_codec.hpp"

#include <string>

#include "busway_formats/text.hpp"

namespace busway::formats::form {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes one key or value; `offset` is where `text` starts in the whole body.
std::string decode(std::string_view text, std::size_t offset, std::size_t pair) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      const int high = i + 1 < text.size() ? hexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        throw sdk::InvalidError("form data has a bad percent escape '" +
                                std::string(text.substr(i, 3)) + "' at byte " +
                                std::to_string(offset + i + 1) + " (pair " + std::to_string(pair) +
                                "); '%' must be followed by two hex digits (write '%25' for '%')");
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void encode(std::string& out, std::string_view text, bool space_as_plus) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '*') {
      out.push_back(c);
    } else if (c == ' ' && space_as_plus) {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4U]);
      out.push_back(kHex[u & 0xFU]);
    }
  }
}

}  // namespace

Options fromOptions(const sdk::Options& options) {
  Options o;
  const std::string arrays = options.text("arrays", "repeated");
  if (arrays != "repeated" && arrays != "always")
    throw sdk::InvalidError("form option 'arrays' is '" + arrays + "'; use repeated or always");
  o.always_arrays = arrays == "always";
  const std::string space = options.text("space", "plus");
  if (space != "plus" && space != "percent")
    throw sdk::InvalidError("form option 'space' is '" + space + "'; use plus or percent");
  o.space_as_plus = space == "plus";
  return o;
}

std::string unmarshal(std::string_view form, const Options& options) {
  Json out = Json::object();
  // A trailing line break (a body typed into a file) is not part of the last value.
  while (!form.empty() && (form.back() == '\n' || form.back() == '\r')) form.remove_suffix(1);
  std::size_t start = 0;
  std::size_t pair = 0;
  while (start <= form.size()) {
    std::size_t end = form.find('&', start);
    if (end == std::string_view::npos) end = form.size();
    const std::string_view item = form.substr(start, end - start);
    const std::size_t offset = start;
    start = end + 1;
    if (item.empty()) continue;
    ++pair;
    const std::size_t equals = item.find('=');
    const std::string key = decode(item.substr(0, equals), offset, pair);
    const std::string value = equals == std::string_view::npos
                                  ? std::string()
                                  : decode(item.substr(equals + 1), offset + equals + 1, pair);
    for (const std::string* text : {&key, &value}) {
      if (invalidUtf8At(*text) != std::string_view::npos) {
        throw sdk::InvalidError("form data pair " + std::to_string(pair) + " (at byte " +
                                std::to_string(offset + 1) +
                                ") decodes to text that is not UTF-8; percent-encode UTF-8 bytes");
      }
    }
    const auto found = out.find(key);
    if (found == out.end()) {
      out[key] = options.always_arrays ? Json::array({value}) : Json(value);
    } else if (found->is_array()) {
      found->push_back(value);
    } else {
      *found = Json::array({std::move(*found), value});
    }
  }
  return dumpJson(out);
}

std::string marshal(std::string_view json, const Options& options) {
  const Json doc = parseJson(json, "the form format's input");
  if (!doc.is_object()) {
    throw sdk::InvalidError(
        std::string("form marshal needs a JSON object of keys and values, not a ") + typeName(doc));
  }
  std::string out;
  const auto write = [&](const std::string& key, const Json& value) {
    std::string text;
    if (!scalarText(value, text)) {
      throw sdk::InvalidError(
          "form marshal: '" + key + "' holds a JSON " + typeName(value) +
          "; form data is flat (strings, numbers, booleans, or arrays of them)");
    }
    if (!out.empty()) out.push_back('&');
    encode(out, key, options.space_as_plus);
    out.push_back('=');
    encode(out, text, options.space_as_plus);
  };
  for (const auto& [key, value] : doc.items()) {
    if (value.is_array()) {
      for (const Json& item : value) write(key, item);
    } else {
      write(key, value);
    }
  }
  return out;
}

}  // namespace busway::formats::form
