#pragma once

// Framing of messages on a TCP stream, and the bits of HL7 v2 that MLLP needs (reading the
// MSH of a message, generating an ACK for a failure). No sockets here: the plugin and its
// unit tests (plugins/tcp/tests/) share this code.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace busway::tcp {

enum class Framing { mllp, newline, length_prefixed };

// A frame that breaks the framing rules: the connection cannot be trusted any more.
class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Cuts frames out of a byte stream.
//  - mllp: 0x0B payload 0x1C 0x0D; CR and LF between frames are ignored, any other byte
//    before 0x0B is an error.
//  - newline: payload '\n' (a '\r' before it is dropped); blank lines are skipped.
//  - length-prefixed: a big-endian length of `length_size` bytes (4 or 2), then the payload.
// A payload longer than max_frame is an error.
class Decoder {
 public:
  Decoder(Framing framing, std::size_t length_size, std::size_t max_frame);
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole frame's payload, or nullopt when more bytes are needed. Throws
  // FrameError for a broken frame.
  std::optional<std::string> next();
  // True when bytes of an unfinished frame are buffered.
  bool partial() const noexcept;

 private:
  Framing framing_;
  std::size_t length_size_;
  std::size_t max_frame_;
  std::string buffer_;
  std::size_t start_ = 0;  // consumed bytes at the front of buffer_
};

// The payload as one frame. Throws std::length_error when it does not fit a 2-byte length.
std::string encode(Framing framing, std::size_t length_size, std::string_view payload);

std::optional<Framing> parseFraming(std::string_view text);
const char* toString(Framing framing);

// What an HL7 v2 message's MSH says (empty fields when absent).
struct Hl7Header {
  char field_separator = '|';
  std::string encoding = "^~\\&";
  std::string sending_application;
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
  std::string message_type;   // MSH-9, e.g. ADT^A01
  std::string control_id;     // MSH-10
  std::string processing_id;  // MSH-11
  std::string version;        // MSH-12
};
// nullopt when the text does not start with "MSH".
std::optional<Hl7Header> parseHl7Header(std::string_view message);

// An HL7 ACK for `request` with acknowledgement code `code` (AA, AE, AR) and `text` in
// MSA-3 (separators and line breaks in it are replaced by spaces). `now` is MSH-7
// (YYYYMMDDHHMMSS) and `id` MSH-10 of the ACK.
std::string makeAck(const Hl7Header& request, std::string_view code, std::string_view text,
                    std::string_view now, std::string_view id);

// MSA-1 of an ACK ("AA", "AE", "AR", "CA", ...), or nullopt when it has no MSA segment.
std::optional<std::string> ackCode(std::string_view ack);

}  // namespace busway::tcp
