#pragma once

// Conversions between AMQP 0-9-1 wire values (rabbitmq-c) and the text the bus works with,
// and the parts of an amqp: URI. No rabbitmq-c state is kept here: the functions are pure
// and used on the connection's I/O thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <amqp.h>

namespace busway::amqp {

// amqp://HOST:PORT/VHOST as the bus hands it over: the URI path "//HOST:PORT/VHOST".
struct Address {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: the default for the transport (5672, or 5671 with TLS)
  std::string vhost = "/";
};
// Throws busway::sdk::InvalidError naming `uri` when the path is not //HOST[:PORT][/VHOST].
Address parseAddress(std::string_view path, std::string_view uri);

inline std::string text(amqp_bytes_t bytes) {
  return bytes.len == 0 ? std::string()
                        : std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}
inline amqp_bytes_t bytes(std::string_view text) {
  amqp_bytes_t out;
  out.len = text.size();
  out.bytes = const_cast<char*>(text.data());  // rabbitmq-c only reads it
  return out;
}

// One field value as text: numbers in decimal, booleans as true/false, timestamps as
// seconds since the epoch, nested tables and arrays as JSON-like text.
std::string fieldText(const amqp_field_value_t& value);

// Application headers (a field table) as name/value text pairs.
std::vector<std::pair<std::string, std::string>> tableEntries(const amqp_table_t& table);

// A field table of long strings that borrows the texts of `entries`: keep both alive while
// the table is used.
class StringTable {
 public:
  explicit StringTable(const std::vector<std::pair<std::string, std::string>>& entries);
  amqp_table_t table() const noexcept;

 private:
  std::vector<amqp_table_entry_t> entries_;
};

}  // namespace busway::amqp
