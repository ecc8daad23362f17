#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace busway {

// "250ms", "5s", "2m", "1h" or a bare number of milliseconds.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
// "512", "64KB", "10MB", "1GB" (powers of 1024).
std::optional<std::uint64_t> parseSize(std::string_view text);
std::optional<std::int64_t> parseInteger(std::string_view text);
std::optional<double> parseDecimal(std::string_view text);
std::optional<bool> parseBoolean(std::string_view text);

std::string_view trim(std::string_view text) noexcept;
std::vector<std::string_view> splitList(std::string_view text, char delimiter);

// Levenshtein distance, for "did you mean" suggestions.
std::size_t editDistance(std::string_view a, std::string_view b);
// The candidate closest to `word`, if it is close enough to be a plausible typo.
std::optional<std::string> closestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string didYouMean(std::string_view word, const std::vector<std::string>& candidates);

std::string formatDuration(std::chrono::milliseconds duration);

}  // namespace busway
