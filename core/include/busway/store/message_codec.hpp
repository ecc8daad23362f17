#pragma once

#include <string>
#include <string_view>

#include "busway/message/message.hpp"
#include "busway/util/result.hpp"

namespace busway::store {

// The stored form of a message: id, correlation id, timestamp, typed headers, media type
// and body, in a little-endian, length-prefixed binary layout (version byte first). The
// history is not stored: a stored message starts a new journey.
std::string encodeMessage(const Message& message);
Result<Message> decodeMessage(std::string_view bytes);

}  // namespace busway::store
