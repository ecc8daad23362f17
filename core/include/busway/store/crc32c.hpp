#pragma once

#include <cstdint>
#include <string_view>

namespace busway::store {

// CRC-32C (Castagnoli), the checksum of every store record. Uses the SSE 4.2 instruction
// when the CPU has it, a table otherwise; both give the same value.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0) noexcept;

}  // namespace busway::store
