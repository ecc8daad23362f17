#pragma once

// The JSON data format: checks that a body is JSON (an error names the line and column) and
// writes it as it came (keep), compact or pretty. Key order and numbers are kept as written
// in compact and pretty output too (an ordered parse; numbers keep their value).

#include <string>
#include <string_view>

#include "busway/sdk/options.hpp"

namespace busway::formats::json {

enum class Output { keep, compact, pretty };

struct Options {
  Output output = Output::keep;
  int indent = 2;
  std::size_t max_depth = 512;  // deeper nesting is refused (a stack-exhaustion guard)
};

Options fromOptions(const sdk::Options& options);

// Checks `text` and returns it in the chosen form. `what` names the input in errors.
std::string convert(std::string_view text, const Options& options, std::string_view what);

}  // namespace busway::formats::json
