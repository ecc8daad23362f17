#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "busway/message/header_value.hpp"

namespace busway {

// Message headers: a small ordered map with case-insensitive names (HTTP, AMQP and MQTT
// disagree about case, so the bus does not care). Copies share storage until one side
// writes (copy on write), which keeps fan-out cheap.
class Headers {
 public:
  using Entry = std::pair<std::string, HeaderValue>;
  using Storage = std::vector<Entry>;

  Headers() = default;

  const HeaderValue* find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  // The header as text, or `fallback` when absent.
  std::string text(std::string_view name, std::string_view fallback = {}) const;

  void set(std::string_view name, HeaderValue value);
  bool erase(std::string_view name);
  void clear();

  std::size_t size() const noexcept { return entries_ ? entries_->size() : 0; }
  bool empty() const noexcept { return size() == 0; }

  Storage::const_iterator begin() const noexcept;
  Storage::const_iterator end() const noexcept;

 private:
  Storage& mutableEntries();

  std::shared_ptr<Storage> entries_;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;

}  // namespace busway
