#include "fields.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include <busway/plugin.hpp>

namespace busway::amqp {

Address parseAddress(std::string_view path, std::string_view uri) {
  Address address;
  const auto bad = [&](const std::string& what) {
    return sdk::InvalidError("'" + std::string(uri) + "': " + what +
                             "; write amqp://HOST:PORT/VHOST?queue=... (for example "
                             "amqp://127.0.0.1:5672/?queue=orders)");
  };
  if (path.empty()) return address;
  if (path.substr(0, 2) != "//") throw bad("the address must start with //");
  path.remove_prefix(2);
  const auto slash = path.find('/');
  std::string_view authority = path.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view vhost = path.substr(slash + 1);
    // "/" is RabbitMQ's default vhost: amqp://host/ and amqp://host//" both mean it;
    // any other name is taken as written ("%2F" was decoded by the bus already).
    if (!vhost.empty()) address.vhost = std::string(vhost);
  }
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    throw bad(
        "credentials do not belong in the address; use the options username and password "
        "(with ${env:NAME})");
  }
  std::string_view host = authority;
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    int value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      throw bad("port '" + std::string(port) + "' is not a number from 1 to 65535");
    }
    address.port = value;
  }
  if (!host.empty()) address.host = std::string(host);
  return address;
}

namespace {

void appendJsonString(std::ostringstream& out, const std::string& text) {
  out << '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') out << '\\';
    out << c;
  }
  out << '"';
}

void appendValue(std::ostringstream& out, const amqp_field_value_t& value, bool nested);

void appendTable(std::ostringstream& out, const amqp_table_t& table) {
  out << '{';
  for (int i = 0; i < table.num_entries; ++i) {
    if (i != 0) out << ',';
    appendJsonString(out, text(table.entries[i].key));
    out << ':';
    appendValue(out, table.entries[i].value, true);
  }
  out << '}';
}

void appendValue(std::ostringstream& out, const amqp_field_value_t& value, bool nested) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_BOOLEAN: out << (value.value.boolean != 0 ? "true" : "false"); break;
    case AMQP_FIELD_KIND_I8: out << static_cast<int>(value.value.i8); break;
    case AMQP_FIELD_KIND_U8: out << static_cast<unsigned>(value.value.u8); break;
    case AMQP_FIELD_KIND_I16: out << value.value.i16; break;
    case AMQP_FIELD_KIND_U16: out << value.value.u16; break;
    case AMQP_FIELD_KIND_I32: out << value.value.i32; break;
    case AMQP_FIELD_KIND_U32: out << value.value.u32; break;
    case AMQP_FIELD_KIND_I64: out << value.value.i64; break;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: out << value.value.u64; break;
    case AMQP_FIELD_KIND_F32: out << value.value.f32; break;
    case AMQP_FIELD_KIND_F64: out << value.value.f64; break;
    case AMQP_FIELD_KIND_DECIMAL:
      out << static_cast<double>(value.value.decimal.value) /
                 std::pow(10.0, static_cast<double>(value.value.decimal.decimals));
      break;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      if (nested)
        appendJsonString(out, text(value.value.bytes));
      else
        out << text(value.value.bytes);
      break;
    case AMQP_FIELD_KIND_TABLE: appendTable(out, value.value.table); break;
    case AMQP_FIELD_KIND_ARRAY:
      out << '[';
      for (int i = 0; i < value.value.array.num_entries; ++i) {
        if (i != 0) out << ',';
        appendValue(out, value.value.array.entries[i], true);
      }
      out << ']';
      break;
    case AMQP_FIELD_KIND_VOID:
    default:
      if (nested) out << "null";
      break;
  }
}

}  // namespace

std::string fieldText(const amqp_field_value_t& value) {
  std::ostringstream out;
  appendValue(out, value, false);
  return std::move(out).str();
}

std::vector<std::pair<std::string, std::string>> tableEntries(const amqp_table_t& table) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(static_cast<std::size_t>(table.num_entries > 0 ? table.num_entries : 0));
  for (int i = 0; i < table.num_entries; ++i) {
    out.emplace_back(text(table.entries[i].key), fieldText(table.entries[i].value));
  }
  return out;
}

StringTable::StringTable(const std::vector<std::pair<std::string, std::string>>& entries) {
  entries_.reserve(entries.size());
  for (const auto& [name, value] : entries) {
    amqp_table_entry_t entry{};
    entry.key = bytes(name);
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = bytes(value);
    entries_.push_back(entry);
  }
}

amqp_table_t StringTable::table() const noexcept {
  amqp_table_t table;
  table.num_entries = static_cast<int>(entries_.size());
  table.entries = const_cast<amqp_table_entry_t*>(entries_.data());
  return table;
}

}  // namespace busway::amqp
