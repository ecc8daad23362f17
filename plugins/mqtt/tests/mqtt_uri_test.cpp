#include "mqtt_uri.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace busway::mqtt {
namespace {

TEST(MqttUri, SplitsHostPortAndTopic) {
  const Address a =
      parseAddress("mqtt://127.0.0.1:1884/orders/+/new", "//127.0.0.1:1884/orders/+/new");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 1884);
  EXPECT_EQ(a.topic, "orders/+/new");
}

TEST(MqttUri, DefaultPortAndEncodedHash) {
  const Address a = parseAddress("u", "//broker.local/sensors/%23");
  EXPECT_EQ(a.host, "broker.local");
  EXPECT_EQ(a.port, 1883);
  EXPECT_EQ(a.topic, "sensors/#");
  EXPECT_EQ(parseAddress("u", "//h/a/#").topic, "a/#");
  EXPECT_EQ(parseAddress("u", "//[::1]:1883/a").host, "::1");
}

TEST(MqttUri, RefusesWhatIsNotAnAddress) {
  EXPECT_THROW(parseAddress("u", "orders"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//host"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//host:x/t"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//host:70000/t"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//:1883/t"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//h/a/#/b"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//h/a+/b"), std::invalid_argument);
  EXPECT_THROW(parseAddress("u", "//h/a%2"), std::invalid_argument);
  try {
    parseAddress("mqtt://h", "//h");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("mqtt://h"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("mqtt://HOST:PORT/TOPIC"), std::string::npos);
  }
}

TEST(MqttUri, TopicRules) {
  EXPECT_TRUE(validTopic("a/b", false));
  EXPECT_FALSE(validTopic("a/+", false));
  EXPECT_TRUE(validTopic("a/+", true));
  EXPECT_TRUE(validTopic("#", true));
  EXPECT_TRUE(validTopic("+/+/#", true));
  EXPECT_FALSE(validTopic("", true));
  EXPECT_FALSE(validTopic("a#", true));
}

}  // namespace
}  // namespace busway::mqtt
