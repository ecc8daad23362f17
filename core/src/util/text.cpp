#include "busway/util/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace busway {

std::string_view trim(std::string_view text) noexcept {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> splitList(std::string_view text, char delimiter) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto at = text.find(delimiter);
    const auto item = trim(text.substr(0, at));
    if (!item.empty()) out.push_back(item);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

std::optional<std::int64_t> parseInteger(std::string_view text) {
  text = trim(text);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> parseDecimal(std::string_view text) {
  text = trim(text);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<bool> parseBoolean(std::string_view text) {
  text = trim(text);
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

namespace {
// Splits "250ms" into 250 and "ms".
bool splitNumber(std::string_view text, std::uint64_t& number, std::string_view& unit) {
  text = trim(text);
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, number);
  if (ec != std::errc() || end != text.data() + i) return false;
  unit = trim(text.substr(i));
  return true;
}
}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  std::uint64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * factor));
}

std::optional<std::uint64_t> parseSize(std::string_view text) {
  std::uint64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  std::string upper(unit);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper.empty() || upper == "B") return n;
  if (upper == "KB" || upper == "K") return n << 10;
  if (upper == "MB" || upper == "M") return n << 20;
  if (upper == "GB" || upper == "G") return n << 30;
  return std::nullopt;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  // Optimal string alignment: like Levenshtein, but swapping two neighbours counts as one
  // edit, the most common typo ("qeueu" -> "queue").
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::size_t> d((n + 1) * (m + 1));
  const auto at = [m](std::size_t i, std::size_t j) { return i * (m + 1) + j; };
  for (std::size_t i = 0; i <= n; ++i) d[at(i, 0)] = i;
  for (std::size_t j = 0; j <= m; ++j) d[at(0, j)] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[at(i, j)] =
          std::min({d[at(i - 1, j)] + 1, d[at(i, j - 1)] + 1, d[at(i - 1, j - 1)] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[at(i, j)] = std::min(d[at(i, j)], d[at(i - 2, j - 2)] + 1);
      }
    }
  }
  return d[at(n, m)];
}

std::optional<std::string> closestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    const auto d = editDistance(word, candidate);
    if (!best || d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  // A plausible typo: one edit in a short word, two in a medium one, three at most.
  const std::size_t limit = word.size() <= 3 ? 1 : word.size() <= 6 ? 2 : 3;
  if (best && best_distance <= limit) return best;
  return std::nullopt;
}

std::string didYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  const auto match = closestMatch(word, candidates);
  return match ? " (did you mean '" + *match + "'?)" : std::string();
}

std::string formatDuration(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0 && ms != 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace busway
