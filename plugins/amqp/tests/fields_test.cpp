// The amqp plugin's pure parts: the address in an amqp: URI and AMQP field values as text.
#include "fields.hpp"

#include <string>

#include <gtest/gtest.h>

#include <busway/plugin.hpp>

namespace busway::amqp {
namespace {

TEST(AmqpAddress, HostPortAndVhost) {
  const Address a = parseAddress("//mq.example:5673/shop", "amqp://mq.example:5673/shop?queue=q");
  EXPECT_EQ(a.host, "mq.example");
  EXPECT_EQ(a.port, 5673);
  EXPECT_EQ(a.vhost, "shop");
}

TEST(AmqpAddress, DefaultsAndTheDefaultVhost) {
  EXPECT_EQ(parseAddress("", "amqp:?queue=q").host, "127.0.0.1");
  EXPECT_EQ(parseAddress("//h", "amqp://h").port, 0);
  EXPECT_EQ(parseAddress("//h/", "amqp://h/").vhost, "/");
  EXPECT_EQ(parseAddress("//h//", "amqp://h//").vhost, "/");
  EXPECT_EQ(parseAddress("//:5672/", "amqp://:5672/").host, "127.0.0.1");
}

TEST(AmqpAddress, RefusesWhatItCannotRead) {
  EXPECT_THROW(parseAddress("h:5672", "amqp:h:5672"), sdk::InvalidError);
  EXPECT_THROW(parseAddress("//h:70000/", "amqp://h:70000/"), sdk::InvalidError);
  EXPECT_THROW(parseAddress("//h:port/", "amqp://h:port/"), sdk::InvalidError);
  try {
    parseAddress("//user:pw@h/", "amqp://user:pw@h/");
    FAIL() << "credentials in the address were accepted";
  } catch (const sdk::InvalidError& e) {
    EXPECT_NE(std::string(e.what()).find("username and password"), std::string::npos) << e.what();
  }
}

amqp_field_value_t utf8(const char* text) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_UTF8;
  v.value.bytes = amqp_cstring_bytes(text);
  return v;
}

TEST(AmqpFields, ScalarsAsText) {
  amqp_field_value_t v{};
  v.kind = AMQP_FIELD_KIND_I64;
  v.value.i64 = -42;
  EXPECT_EQ(fieldText(v), "-42");
  v.kind = AMQP_FIELD_KIND_BOOLEAN;
  v.value.boolean = 1;
  EXPECT_EQ(fieldText(v), "true");
  v.kind = AMQP_FIELD_KIND_I8;
  v.value.i8 = 7;
  EXPECT_EQ(fieldText(v), "7");
  v.kind = AMQP_FIELD_KIND_DECIMAL;
  v.value.decimal.decimals = 2;
  v.value.decimal.value = 1250;
  EXPECT_EQ(fieldText(v), "12.5");
  EXPECT_EQ(fieldText(utf8("plain \"text\"")), "plain \"text\"");
  v.kind = AMQP_FIELD_KIND_VOID;
  EXPECT_EQ(fieldText(v), "");
}

TEST(AmqpFields, NestedTablesAndArraysAsJson) {
  amqp_table_entry_t inner[2];
  inner[0].key = amqp_cstring_bytes("a");
  inner[0].value = utf8("x\"y");
  inner[1].key = amqp_cstring_bytes("n");
  inner[1].value.kind = AMQP_FIELD_KIND_I32;
  inner[1].value.value.i32 = 3;
  amqp_field_value_t items[2];
  items[0] = utf8("one");
  items[1].kind = AMQP_FIELD_KIND_TABLE;
  items[1].value.table = amqp_table_t{2, inner};
  amqp_field_value_t array{};
  array.kind = AMQP_FIELD_KIND_ARRAY;
  array.value.array = amqp_array_t{2, items};
  EXPECT_EQ(fieldText(array), R"(["one",{"a":"x\"y","n":3}])");
}

TEST(AmqpFields, StringTableRoundTrip) {
  const std::vector<std::pair<std::string, std::string>> headers = {{"x-order", "42"},
                                                                    {"kind", "new"}};
  const StringTable table(headers);
  const auto back = tableEntries(table.table());
  EXPECT_EQ(back, headers);
}

}  // namespace
}  // namespace busway::amqp
