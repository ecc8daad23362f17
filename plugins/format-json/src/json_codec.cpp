#include "json_codec.hpp"

#include <string>

#include "busway_formats/text.hpp"

namespace busway::formats::json {

namespace {

// Nesting depth, found without recursion (strings skipped), so that a hostile body of
// 100000 '[' is refused before the recursive parser sees it.
void checkDepth(std::string_view text, std::size_t limit, std::string_view what) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) {
        throw sdk::InvalidError(std::string(what) + " nests deeper than " + std::to_string(limit) +
                                " levels at " + describe(positionOf(text, i)));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace

Options fromOptions(const sdk::Options& options) {
  Options o;
  const std::string output = options.text("output", "keep");
  if (output == "keep") {
    o.output = Output::keep;
  } else if (output == "compact") {
    o.output = Output::compact;
  } else if (output == "pretty") {
    o.output = Output::pretty;
  } else {
    throw sdk::InvalidError("JSON option 'output' is '" + output +
                            "'; use keep, compact or pretty");
  }
  const auto indent = options.integer("indent", 2);
  if (indent < 0 || indent > 16) throw sdk::InvalidError("JSON option 'indent' must be 0 to 16");
  o.indent = static_cast<int>(indent);
  const auto depth = options.integer("max-depth", 512);
  if (depth < 1 || depth > 100000)
    throw sdk::InvalidError("JSON option 'max-depth' must be 1 to 100000");
  o.max_depth = static_cast<std::size_t>(depth);
  return o;
}

std::string convert(std::string_view text, const Options& options, std::string_view what) {
  checkDepth(text, options.max_depth, what);
  const Json value = parseJson(text, what);
  switch (options.output) {
    case Output::keep: return std::string(text);
    case Output::compact: return dumpJson(value);
    case Output::pretty: return dumpJson(value, options.indent) + "\n";
  }
  return std::string(text);
}

}  // namespace busway::formats::json
