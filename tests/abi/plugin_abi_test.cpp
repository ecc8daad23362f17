// Guards the plugin ABI: the current sdk/include/busway/plugin.h must stay compatible with
// the header as released (tests/abi/plugin-abi-1.0.h). Within major version 1 a field or
// function may only be appended; removing, reordering or retyping one fails here, naming it.
#include <cstddef>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace released {
#include "plugin-abi-1.0.h"
}
// The released header's macros would clash with the current ones; its values are checked
// below through the enum constants and the copies kept here.
constexpr int kReleasedMajor = BW_ABI_MAJOR;
constexpr int kReleasedMinor = BW_ABI_MINOR;
#undef BW_ABI_MAJOR
#undef BW_ABI_MINOR
#undef BW_EXPORT
#undef BW_ENTRY_SYMBOL
#undef BW_MANIFEST_SECTION
#include "busway/plugin.h"

namespace {

struct Field {
  std::string strct;
  std::string field;
  std::size_t released_offset, released_size, current_offset, current_size;
};

std::vector<Field>& fields() {
  static std::vector<Field> all;
  return all;
}

#define BW_CHECK_FIELD(S, F)                                                         \
  fields().push_back(Field{#S, #F, offsetof(released::S, F), sizeof(released::S::F), \
                           offsetof(::S, F), sizeof(::S::F)})

void collect() {
  if (!fields().empty()) return;
  BW_CHECK_FIELD(bw_str, data);
  BW_CHECK_FIELD(bw_str, size);
  BW_CHECK_FIELD(bw_error, struct_size);
  BW_CHECK_FIELD(bw_error, message);
  BW_CHECK_FIELD(bw_error, capacity);
  BW_CHECK_FIELD(bw_option, struct_size);
  BW_CHECK_FIELD(bw_option, name);
  BW_CHECK_FIELD(bw_option, value);
  BW_CHECK_FIELD(bw_host_api, struct_size);
  BW_CHECK_FIELD(bw_host_api, abi_major);
  BW_CHECK_FIELD(bw_host_api, abi_minor);
  BW_CHECK_FIELD(bw_host_api, log);
  BW_CHECK_FIELD(bw_host_api, message_new);
  BW_CHECK_FIELD(bw_host_api, message_free);
  BW_CHECK_FIELD(bw_host_api, message_body);
  BW_CHECK_FIELD(bw_host_api, message_media_type);
  BW_CHECK_FIELD(bw_host_api, message_set_body);
  BW_CHECK_FIELD(bw_host_api, message_id);
  BW_CHECK_FIELD(bw_host_api, message_correlation_id);
  BW_CHECK_FIELD(bw_host_api, message_set_correlation_id);
  BW_CHECK_FIELD(bw_host_api, message_header_count);
  BW_CHECK_FIELD(bw_host_api, message_header_at);
  BW_CHECK_FIELD(bw_host_api, message_header_get);
  BW_CHECK_FIELD(bw_host_api, message_header_set);
  BW_CHECK_FIELD(bw_host_api, message_header_set_int);
  BW_CHECK_FIELD(bw_host_api, message_header_remove);
  BW_CHECK_FIELD(bw_host_api, deliver);
  BW_CHECK_FIELD(bw_host_api, sending_complete);
  BW_CHECK_FIELD(bw_host_api, sending_message);
  BW_CHECK_FIELD(bw_host_api, sending_wants_reply);
  BW_CHECK_FIELD(bw_host_api, schedule);
  BW_CHECK_FIELD(bw_host_api, metric_add);
  BW_CHECK_FIELD(bw_endpoint_api, struct_size);
  BW_CHECK_FIELD(bw_endpoint_api, scheme);
  BW_CHECK_FIELD(bw_endpoint_api, create);
  BW_CHECK_FIELD(bw_endpoint_api, destroy);
  BW_CHECK_FIELD(bw_endpoint_api, start);
  BW_CHECK_FIELD(bw_endpoint_api, stop);
  BW_CHECK_FIELD(bw_endpoint_api, send);
  BW_CHECK_FIELD(bw_format_api, struct_size);
  BW_CHECK_FIELD(bw_format_api, name);
  BW_CHECK_FIELD(bw_format_api, create);
  BW_CHECK_FIELD(bw_format_api, destroy);
  BW_CHECK_FIELD(bw_format_api, marshal);
  BW_CHECK_FIELD(bw_format_api, unmarshal);
  BW_CHECK_FIELD(bw_transformer_api, struct_size);
  BW_CHECK_FIELD(bw_transformer_api, name);
  BW_CHECK_FIELD(bw_transformer_api, create);
  BW_CHECK_FIELD(bw_transformer_api, destroy);
  BW_CHECK_FIELD(bw_transformer_api, apply);
  BW_CHECK_FIELD(bw_plugin_descriptor, struct_size);
  BW_CHECK_FIELD(bw_plugin_descriptor, abi_major);
  BW_CHECK_FIELD(bw_plugin_descriptor, abi_minor);
  BW_CHECK_FIELD(bw_plugin_descriptor, id);
  BW_CHECK_FIELD(bw_plugin_descriptor, version);
  BW_CHECK_FIELD(bw_plugin_descriptor, init);
  BW_CHECK_FIELD(bw_plugin_descriptor, drain);
  BW_CHECK_FIELD(bw_plugin_descriptor, destroy);
  BW_CHECK_FIELD(bw_plugin_descriptor, endpoints);
  BW_CHECK_FIELD(bw_plugin_descriptor, endpoint_count);
  BW_CHECK_FIELD(bw_plugin_descriptor, formats);
  BW_CHECK_FIELD(bw_plugin_descriptor, format_count);
  BW_CHECK_FIELD(bw_plugin_descriptor, transformers);
  BW_CHECK_FIELD(bw_plugin_descriptor, transformer_count);
}

// struct name -> member names, read from the released header's text.
std::map<std::string, std::vector<std::string>> releasedMembers() {
  std::ifstream in(std::string(BUSWAY_SOURCE_DIR) + "/tests/abi/plugin-abi-1.0.h");
  std::stringstream text;
  text << in.rdbuf();
  std::string source = std::regex_replace(text.str(), std::regex(R"(/\*[\s\S]*?\*/)"), "");
  std::map<std::string, std::vector<std::string>> out;
  const std::regex strct(R"(typedef struct (\w+) \{([\s\S]*?)\} \1;)");
  for (std::sregex_iterator it(source.begin(), source.end(), strct), end; it != end; ++it) {
    const std::string name = (*it)[1];
    const std::string body = (*it)[2];
    std::stringstream decls(body);
    std::string decl;
    while (std::getline(decls, decl, ';')) {
      std::smatch m;
      if (std::regex_search(decl, m, std::regex(R"(\(\*(\w+)\))")))
        out[name].push_back(m[1]);
      else if (std::regex_search(decl, m, std::regex(R"((\w+)\s*$)")))
        out[name].push_back(m[1]);
    }
  }
  return out;
}

TEST(PluginAbi, TheFieldListCoversEveryMemberOfTheReleasedHeader) {
  collect();
  std::map<std::string, std::vector<std::string>> checked;
  for (const auto& f : fields()) checked[f.strct].push_back(f.field);
  const auto members = releasedMembers();
  ASSERT_FALSE(members.empty());
  EXPECT_EQ(checked, members)
      << "tests/abi/plugin_abi_test.cpp must check every member of the released header";
}

TEST(PluginAbi, EveryReleasedFieldKeepsItsPlaceAndSize) {
  collect();
  for (const auto& f : fields()) {
    EXPECT_EQ(f.current_offset, f.released_offset)
        << f.strct << "::" << f.field << " moved: fields may only be appended";
    EXPECT_EQ(f.current_size, f.released_size) << f.strct << "::" << f.field << " changed its type";
  }
}

TEST(PluginAbi, StructsOnlyGrowAndArrayElementsNeverDo) {
  EXPECT_GE(sizeof(::bw_host_api), sizeof(released::bw_host_api));
  EXPECT_GE(sizeof(::bw_endpoint_api), sizeof(released::bw_endpoint_api));
  EXPECT_GE(sizeof(::bw_format_api), sizeof(released::bw_format_api));
  EXPECT_GE(sizeof(::bw_transformer_api), sizeof(released::bw_transformer_api));
  EXPECT_GE(sizeof(::bw_plugin_descriptor), sizeof(released::bw_plugin_descriptor));
  EXPECT_EQ(sizeof(::bw_error), sizeof(released::bw_error));
  // Passed in arrays: their size is their stride, fixed for the whole major version.
  EXPECT_EQ(sizeof(::bw_option), sizeof(released::bw_option));
  EXPECT_EQ(sizeof(::bw_str), sizeof(released::bw_str));
  EXPECT_EQ(sizeof(::bw_status), sizeof(released::bw_status));
}

TEST(PluginAbi, StatusValuesAndVersionsAreKept) {
  EXPECT_EQ(BW_OK, released::BW_OK);
  EXPECT_EQ(BW_PENDING, released::BW_PENDING);
  EXPECT_EQ(BW_ERR_TRANSIENT, released::BW_ERR_TRANSIENT);
  EXPECT_EQ(BW_ERR_PERMANENT, released::BW_ERR_PERMANENT);
  EXPECT_EQ(BW_ERR_INVALID, released::BW_ERR_INVALID);
  EXPECT_EQ(BW_ERR_TIMEOUT, released::BW_ERR_TIMEOUT);
  EXPECT_EQ(BW_ERR_REJECTED, released::BW_ERR_REJECTED);
  EXPECT_EQ(BW_ERR_UNSUPPORTED, released::BW_ERR_UNSUPPORTED);
  EXPECT_EQ(BW_ABI_MAJOR, kReleasedMajor)
      << "a new major needs a new released header and a new test";
  EXPECT_GE(BW_ABI_MINOR, kReleasedMinor);
  EXPECT_STREQ(BW_ENTRY_SYMBOL, "busway_plugin_entry");
  EXPECT_STREQ(BW_MANIFEST_SECTION, ".busway_manifest");
}

}  // namespace
