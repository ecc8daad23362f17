#pragma once

// application/x-www-form-urlencoded <-> JSON object.
//   a=1&b=x+y&a=%C3%A9  <->  {"a": ["1", "é"], "b": "x y"}
// Keys keep the order they first appear in; a repeated key becomes an array (or every value
// is an array with arrays=always). Values are strings on unmarshal; marshal writes numbers
// and booleans as text and null as an empty value. Nested objects cannot be form-encoded.

#include <string>
#include <string_view>

#include "busway/sdk/options.hpp"

namespace busway::formats::form {

struct Options {
  bool always_arrays = false;  // unmarshal: every value is an array
  bool space_as_plus = true;   // marshal: ' ' is written '+' (else %20)
};

Options fromOptions(const sdk::Options& options);

std::string unmarshal(std::string_view form, const Options& options);
std::string marshal(std::string_view json, const Options& options);

}  // namespace busway::formats::form
