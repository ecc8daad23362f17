#pragma once

// For the format plugins' unit tests: reading sample files and bounded random mutation of
// samples (the parsers must answer every input with a result or an InvalidError, never a
// crash or another exception).

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace busway::formats::testing {

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Calls fn(mutated) `count` times, each time with `sample` changed by 1-4 random edits
// (flip, insert, delete, duplicate a slice, insert a byte that matters to parsers).
// Deterministic for a given seed, so a failure can be replayed.
template <class Fn>
void forEachMutation(const std::string& sample, std::size_t count, std::uint32_t seed,
                     const std::string& specials, Fn&& fn) {
  std::mt19937 rng(seed);
  const auto pick = [&](std::size_t n) {
    return n == 0 ? std::size_t{0} : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  for (std::size_t round = 0; round < count; ++round) {
    std::string text = sample;
    const std::size_t edits = 1 + pick(4);
    for (std::size_t e = 0; e < edits; ++e) {
      const std::size_t at = pick(text.size() + 1);
      switch (pick(6)) {
        case 0:
          if (at < text.size()) text[at] = static_cast<char>(pick(256));
          break;
        case 1: text.insert(at, 1, static_cast<char>(pick(256))); break;
        case 2:
          if (at < text.size()) text.erase(at, 1 + pick(8));
          break;
        case 3: {
          const std::size_t from = pick(text.size() + 1);
          text.insert(at, text.substr(from, pick(32)));
          break;
        }
        case 4:
          if (!specials.empty()) text.insert(at, 1, specials[pick(specials.size())]);
          break;
        default: text.resize(at); break;  // truncation
      }
    }
    fn(text);
  }
}

}  // namespace busway::formats::testing
