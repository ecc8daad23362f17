#include "busway/message/headers.hpp"

namespace busway {

namespace {

constexpr char lowerAscii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

const Headers::Storage& emptyStorage() noexcept {
  static const Headers::Storage storage;
  return storage;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

const HeaderValue* Headers::find(std::string_view name) const noexcept {
  if (!entries_) return nullptr;
  // Linear search: messages carry a handful of headers, and a vector beats a hash map there.
  for (const auto& entry : *entries_) {
    if (equalsIgnoreCase(entry.first, name)) return &entry.second;
  }
  return nullptr;
}

std::string Headers::text(std::string_view name, std::string_view fallback) const {
  const HeaderValue* value = find(name);
  return value ? toText(*value) : std::string(fallback);
}

void Headers::set(std::string_view name, HeaderValue value) {
  Storage& entries = mutableEntries();
  for (auto& entry : entries) {
    if (equalsIgnoreCase(entry.first, name)) {
      // Keep the spelling the header arrived with: protocols that echo headers back
      // should not see their case change.
      entry.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::string(name), std::move(value));
}

bool Headers::erase(std::string_view name) {
  if (!find(name)) return false;  // avoid cloning shared storage for a no-op
  Storage& entries = mutableEntries();
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (equalsIgnoreCase(it->first, name)) {
      entries.erase(it);
      return true;
    }
  }
  return false;
}

void Headers::clear() {
  // Dropping our reference is enough; other copies keep theirs.
  entries_.reset();
}

Headers::Storage::const_iterator Headers::begin() const noexcept {
  return entries_ ? entries_->cbegin() : emptyStorage().cbegin();
}

Headers::Storage::const_iterator Headers::end() const noexcept {
  return entries_ ? entries_->cend() : emptyStorage().cend();
}

Headers::Storage& Headers::mutableEntries() {
  if (!entries_) {
    entries_ = std::make_shared<Storage>();
  } else if (entries_.use_count() > 1) {
    // Another copy shares this storage: clone before writing. use_count() is exact enough
    // here: a count of 1 means nobody else can be copying from us concurrently without
    // already racing on this Headers object.
    entries_ = std::make_shared<Storage>(*entries_);
  }
  return *entries_;
}

}  // namespace busway
