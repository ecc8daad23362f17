#pragma once

// The address part of an mqtt endpoint URI: mqtt://HOST:PORT/TOPIC. The bus hands the
// plugin the path as written ("//127.0.0.1:1883/orders/+/new"); this splits it. Kept apart
// from the plugin so that it can be unit-tested without a broker.

#include <string>
#include <string_view>

namespace busway::mqtt {

struct Address {
  std::string host;
  int port = 1883;
  std::string topic;  // percent-decoded: %23 is '#', %2B is '+'
};

// Parses `path` of `uri` (the whole URI, for messages). Throws std::invalid_argument with a
// message that names the URI and says what to write instead.
Address parseAddress(std::string_view uri, std::string_view path);

// True when `topic` is a valid MQTT topic filter (wildcards allowed when `filter`).
bool validTopic(std::string_view topic, bool filter);

}  // namespace busway::mqtt
