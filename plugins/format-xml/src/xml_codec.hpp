#pragma once

// XML <-> JSON, with one convention (docs/plugins/format-xml.md):
//
//   <order id="7" xmlns:p="urn:p">            {"order": {"@id": "7", "@xmlns:p": "urn:p",
//     <p:line sku="A">2</p:line>                "p:line": [{"@sku": "A", "#text": "2"},
//     <p:line sku="B">1</p:line>                           {"@sku": "B", "#text": "1"}],
//     <note>rush</note>                         "note": "rush"}}
//   </order>
//
// - an element with neither attributes nor child elements is its text (a string, "" when
//   empty); otherwise an object: attributes as "@name", children by name, its text as "#text";
// - repeated child elements become an array in document order; the `arrays` option lists
//   element paths that are arrays even when they occur once ("order/p:line", or "line" for
//   any element of that name);
// - namespaces are kept as prefixes in names, and declarations as "@xmlns"/"@xmlns:p";
// - values are strings on unmarshal; marshal writes numbers and booleans as text, null as an
//   empty element, arrays as repeated elements (items of a nested or top-level array are
//   elements named by the `item` option);
// - the root: with the `root` option empty (default) the JSON is {"rootName": content}; with
//   `root` set, the JSON is the content and marshal names the root `root`.
// Lost on the way: comments, processing instructions, the order of differently named
// siblings, and where text sat between child elements (it is concatenated into "#text").

#include <string>
#include <string_view>
#include <vector>

#include "busway/sdk/options.hpp"

namespace busway::formats::xml {

struct Options {
  std::string root;                 // empty: the JSON names the root (one key)
  std::string item = "item";        // element name for items of a nested or top-level array
  std::vector<std::string> arrays;  // element paths that are always arrays
  bool declaration = true;          // marshal writes <?xml version="1.0" encoding="UTF-8"?>
  bool pretty = false;              // marshal indents
  std::string indent = "  ";
};

Options fromOptions(const sdk::Options& options);

std::string unmarshal(std::string_view xml, const Options& options);
std::string marshal(std::string_view json, const Options& options);

}  // namespace busway::formats::xml
