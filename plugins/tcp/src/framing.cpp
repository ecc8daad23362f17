#include "framing.hpp"

#include <vector>

namespace busway::tcp {

namespace {

constexpr char kStartBlock = '\x0b';
constexpr char kEndBlock = '\x1c';
constexpr char kCarriageReturn = '\x0d';

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view firstComponent(std::string_view field, char component_separator) {
  return field.substr(0, field.find(component_separator));
}

}  // namespace

Decoder::Decoder(Framing framing, std::size_t length_size, std::size_t max_frame)
    : framing_(framing), length_size_(length_size), max_frame_(max_frame) {
  if (length_size_ != 2 && length_size_ != 4) {
    throw std::invalid_argument("length-size must be 2 or 4");
  }
}

bool Decoder::partial() const noexcept {
  if (framing_ == Framing::mllp) {
    for (std::size_t i = start_; i < buffer_.size(); ++i) {
      if (buffer_[i] != '\r' && buffer_[i] != '\n') return true;
    }
    return false;
  }
  return buffer_.size() > start_;
}

std::optional<std::string> Decoder::next() {
  // Drop what was consumed once it is a good part of the buffer.
  if (start_ > 0 && start_ * 2 >= buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  const std::string_view data = std::string_view(buffer_).substr(start_);
  switch (framing_) {
    case Framing::newline: {
      std::size_t offset = 0;
      for (;;) {
        const std::size_t end = data.find('\n', offset);
        if (end == std::string_view::npos) {
          if (data.size() - offset > max_frame_ + 1) {
            throw FrameError("a line of more than " + std::to_string(max_frame_) +
                             " bytes (max-frame) without a newline");
          }
          start_ += offset;
          return std::nullopt;
        }
        std::string_view line = data.substr(offset, end - offset);
        offset = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > max_frame_) {
          throw FrameError("a line of " + std::to_string(line.size()) +
                           " bytes, more than max-frame (" + std::to_string(max_frame_) + ")");
        }
        if (line.empty()) continue;
        start_ += offset;
        return std::string(line);
      }
    }
    case Framing::length_prefixed: {
      if (data.size() < length_size_) return std::nullopt;
      std::uint64_t length = 0;
      for (std::size_t i = 0; i < length_size_; ++i) {
        length = (length << 8U) | static_cast<unsigned char>(data[i]);
      }
      if (length > max_frame_) {
        throw FrameError("a frame announced as " + std::to_string(length) +
                         " bytes, more than max-frame (" + std::to_string(max_frame_) + ")");
      }
      if (data.size() < length_size_ + length) return std::nullopt;
      start_ += length_size_ + length;
      return std::string(data.substr(length_size_, length));
    }
    case Framing::mllp: {
      std::size_t offset = 0;
      while (offset < data.size() && (data[offset] == '\r' || data[offset] == '\n')) ++offset;
      if (offset == data.size()) {
        start_ += offset;
        return std::nullopt;
      }
      if (data[offset] != kStartBlock) {
        const std::size_t junk = data.find(kStartBlock, offset);
        throw FrameError("bytes before the MLLP start block 0x0B (" +
                         (junk == std::string_view::npos
                              ? "no start block at all"
                              : std::to_string(junk - offset) + " stray bytes") +
                         ")");
      }
      const std::size_t end = data.find(kEndBlock, offset + 1);
      if (end == std::string_view::npos) {
        if (data.size() - offset - 1 > max_frame_) {
          throw FrameError("an MLLP frame of more than " + std::to_string(max_frame_) +
                           " bytes (max-frame) without the end block 0x1C 0x0D");
        }
        return std::nullopt;
      }
      if (end - offset - 1 > max_frame_) {
        throw FrameError("an MLLP frame of " + std::to_string(end - offset - 1) +
                         " bytes, more than max-frame (" + std::to_string(max_frame_) + ")");
      }
      if (end + 1 == data.size()) return std::nullopt;  // wait for the 0x0D
      if (data[end + 1] != kCarriageReturn) {
        throw FrameError("the MLLP end block 0x1C is not followed by 0x0D");
      }
      if (data.find(kStartBlock, offset + 1) < end) {
        throw FrameError("a second MLLP start block 0x0B inside a frame");
      }
      start_ += end + 2;
      return std::string(data.substr(offset + 1, end - offset - 1));
    }
  }
  return std::nullopt;
}

std::string encode(Framing framing, std::size_t length_size, std::string_view payload) {
  std::string out;
  switch (framing) {
    case Framing::mllp:
      out.reserve(payload.size() + 3);
      out += kStartBlock;
      out += payload;
      out += kEndBlock;
      out += kCarriageReturn;
      break;
    case Framing::newline:
      out.reserve(payload.size() + 1);
      out += payload;
      out += '\n';
      break;
    case Framing::length_prefixed: {
      if (length_size == 2 && payload.size() > 0xFFFF) {
        throw std::length_error("a payload of " + std::to_string(payload.size()) +
                                " bytes does not fit a 2-byte length");
      }
      if (payload.size() > 0xFFFFFFFFULL) throw std::length_error("payload too large");
      const auto size = static_cast<std::uint64_t>(payload.size());
      for (std::size_t i = length_size; i > 0; --i) {
        out += static_cast<char>((size >> (8U * (i - 1))) & 0xFFU);
      }
      out += payload;
      break;
    }
  }
  return out;
}

std::optional<Framing> parseFraming(std::string_view text) {
  if (text == "mllp") return Framing::mllp;
  if (text == "newline") return Framing::newline;
  if (text == "length-prefixed") return Framing::length_prefixed;
  return std::nullopt;
}

const char* toString(Framing framing) {
  switch (framing) {
    case Framing::mllp: return "mllp";
    case Framing::newline: return "newline";
    case Framing::length_prefixed: return "length-prefixed";
  }
  return "?";
}

std::optional<Hl7Header> parseHl7Header(std::string_view message) {
  if (message.size() < 8 || message.substr(0, 3) != "MSH") return std::nullopt;
  Hl7Header header;
  header.field_separator = message[3];
  std::string_view segment = message.substr(0, message.find_first_of("\r\n"));
  const auto fields = split(segment, header.field_separator);
  // fields[0] = "MSH", fields[1] = encoding characters (MSH-2), fields[n] = MSH-(n+1).
  const auto field = [&](std::size_t msh) -> std::string {
    return msh - 1 < fields.size() ? std::string(fields[msh - 1]) : std::string();
  };
  if (fields.size() > 1) header.encoding = std::string(fields[1]);
  header.sending_application = field(3);
  header.sending_facility = field(4);
  header.receiving_application = field(5);
  header.receiving_facility = field(6);
  header.message_type = field(9);
  header.control_id = field(10);
  header.processing_id = field(11);
  header.version = field(12);
  return header;
}

std::string makeAck(const Hl7Header& request, std::string_view code, std::string_view text,
                    std::string_view now, std::string_view id) {
  const char f = request.field_separator;
  const char component = request.encoding.empty() ? '^' : request.encoding[0];
  std::string clean;
  for (const char c : text.substr(0, 200)) {
    const bool special =
        c == f || c == '\r' || c == '\n' || request.encoding.find(c) != std::string::npos;
    clean += special ? ' ' : c;
  }
  const std::string_view type = request.message_type;
  const std::size_t caret = type.find(component);
  std::string ack_type = "ACK";
  if (caret != std::string_view::npos) {
    ack_type += component;
    ack_type += firstComponent(type.substr(caret + 1), component);
  }
  std::string out = "MSH";
  out += f;
  out += request.encoding;
  // Views of named strings only: a temporary made inside the braces would be gone before
  // the loop reads it (C++20 does not extend temporaries in a range-for initializer).
  const std::string_view processing_id = request.processing_id.empty()
                                             ? std::string_view("P")
                                             : std::string_view(request.processing_id);
  const std::string_view version =
      request.version.empty() ? std::string_view("2.5") : std::string_view(request.version);
  for (const std::string_view value :
       {std::string_view(request.receiving_application),
        std::string_view(request.receiving_facility), std::string_view(request.sending_application),
        std::string_view(request.sending_facility), now, std::string_view(),
        std::string_view(ack_type), id, processing_id, version}) {
    out += f;
    out += value;
  }
  out += '\r';
  out += "MSA";
  out += f;
  out += code;
  out += f;
  out += request.control_id;
  out += f;
  out += clean;
  out += '\r';
  return out;
}

std::optional<std::string> ackCode(std::string_view ack) {
  std::size_t at = 0;
  while (at < ack.size()) {
    const std::size_t end = ack.find_first_of("\r\n", at);
    const std::string_view segment =
        ack.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (segment.size() > 4 && segment.substr(0, 3) == "MSA") {
      const char f = segment[3];
      const auto fields = split(segment, f);
      if (fields.size() > 1) return std::string(fields[1]);
      return std::nullopt;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace busway::tcp
