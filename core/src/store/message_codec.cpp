#include "busway/store/message_codec.hpp"

#include <cstdint>
#include <cstring>

namespace busway::store {
namespace {

constexpr std::uint8_t kVersion = 1;

void putU32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFFU);
  out.append(b, 4);
}
void putU64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFFU);
  out.append(b, 8);
}
void putText(std::string& out, std::string_view text) {
  putU32(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u8(std::uint8_t& v) {
    if (in_.size() < 1) return false;
    v = static_cast<std::uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in_[static_cast<std::size_t>(i)]))
           << (8 * i);
    in_.remove_prefix(4);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (in_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[static_cast<std::size_t>(i)]))
           << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool text(std::string& v) {
    std::uint32_t n = 0;
    if (!u32(n) || in_.size() < n) return false;
    v.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string encodeMessage(const Message& message) {
  std::string out;
  out.reserve(64 + message.body().size() + message.headers().size() * 32);
  out.push_back(static_cast<char>(kVersion));
  putText(out, message.id());
  putText(out, message.correlationId() == message.id() ? std::string_view{}
                                                       : std::string_view(message.correlationId()));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(message.timestamp().time_since_epoch())
          .count();
  putU64(out, static_cast<std::uint64_t>(ms));
  putU32(out, static_cast<std::uint32_t>(message.headers().size()));
  for (const auto& [name, value] : message.headers()) {
    putText(out, name);
    out.push_back(static_cast<char>(value.index()));
    switch (value.index()) {
      case 1: out.push_back(std::get<bool>(value) ? 1 : 0); break;
      case 2: putU64(out, static_cast<std::uint64_t>(std::get<std::int64_t>(value))); break;
      case 3: {
        std::uint64_t bits;
        const double d = std::get<double>(value);
        std::memcpy(&bits, &d, 8);
        putU64(out, bits);
        break;
      }
      case 4: putText(out, std::get<std::string>(value)); break;
      default: break;
    }
  }
  putText(out, message.body().mediaType());
  putText(out, message.bodyText());
  return out;
}

Result<Message> decodeMessage(std::string_view bytes) {
  const auto bad = [](const char* what) {
    return Error(ErrorKind::invalid, std::string("stored message is malformed: ") + what);
  };
  Reader r(bytes);
  std::uint8_t version = 0;
  if (!r.u8(version) || version != kVersion) return bad("unknown version");
  std::string id, correlation, media, body;
  std::uint64_t ms = 0;
  std::uint32_t count = 0;
  if (!r.text(id) || !r.text(correlation) || !r.u64(ms) || !r.u32(count))
    return bad("truncated header");
  Message message;
  message.setId(std::move(id));
  if (!correlation.empty()) message.setCorrelationId(std::move(correlation));
  message.setTimestamp(std::chrono::system_clock::time_point(
      std::chrono::milliseconds(static_cast<std::int64_t>(ms))));
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string name;
    std::uint8_t type = 0;
    if (!r.text(name) || !r.u8(type)) return bad("truncated header entry");
    HeaderValue value;
    switch (type) {
      case 0: break;
      case 1: {
        std::uint8_t b = 0;
        if (!r.u8(b)) return bad("truncated boolean");
        value = b != 0;
        break;
      }
      case 2: {
        std::uint64_t v = 0;
        if (!r.u64(v)) return bad("truncated integer");
        value = static_cast<std::int64_t>(v);
        break;
      }
      case 3: {
        std::uint64_t v = 0;
        if (!r.u64(v)) return bad("truncated number");
        double d;
        std::memcpy(&d, &v, 8);
        value = d;
        break;
      }
      case 4: {
        std::string s;
        if (!r.text(s)) return bad("truncated text header");
        value = std::move(s);
        break;
      }
      default: return bad("unknown header type");
    }
    message.headers().set(name, std::move(value));
  }
  if (!r.text(media) || !r.text(body)) return bad("truncated body");
  if (!r.done()) return bad("trailing bytes");
  message.setBody(std::move(body), std::move(media));
  return message;
}

}  // namespace busway::store
