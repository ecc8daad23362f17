#pragma once

// Messages as the plugin sees them: handles to the host's messages, worked on through the
// host's function table. Three types, so ownership shows in every signature:
//   MessageView   read-only, borrowed (a reply handed to a done callback)
//   MessageRef    read-write, borrowed (the message a transformer or producer works on)
//   OwnedMessage  read-write, owned: freed with message_free unless passed on (deliver)
// None is thread-safe: one message is worked on by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "busway/plugin.h"
#include "busway/sdk/error.hpp"

namespace busway::sdk {

class MessageView {
 public:
  MessageView(const bw_host_api* api, const bw_message* message) noexcept
      : api_(api), message_(message) {}

  // Views point into the message: valid until it is changed or freed.
  std::string_view body() const { return detail::view(api_->message_body(message_)); }
  std::string_view mediaType() const { return detail::view(api_->message_media_type(message_)); }
  std::string_view id() const { return detail::view(api_->message_id(message_)); }
  std::string_view correlationId() const {
    return detail::view(api_->message_correlation_id(message_));
  }

  // The header as text (typed headers are formatted); names compare case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const {
    bw_str value{nullptr, 0};
    if (api_->message_header_get(message_, detail::str(name), &value) == 0) return std::nullopt;
    return detail::view(value);
  }
  std::size_t headerCount() const { return api_->message_header_count(message_); }
  // Header `index` (0..headerCount()-1) as {name, value}.
  std::pair<std::string_view, std::string_view> headerAt(std::size_t index) const {
    bw_str name{nullptr, 0};
    bw_str value{nullptr, 0};
    if (api_->message_header_at(message_, index, &name, &value) == 0) return {};
    return {detail::view(name), detail::view(value)};
  }
  // Calls fn(name, value) for every header.
  template <class Fn>
  void forEachHeader(Fn&& fn) const {
    const std::size_t count = headerCount();
    for (std::size_t i = 0; i < count; ++i) {
      const auto [name, value] = headerAt(i);
      fn(name, value);
    }
  }

  const bw_host_api* api() const noexcept { return api_; }
  const bw_message* handle() const noexcept { return message_; }

 protected:
  const bw_host_api* api_;
  const bw_message* message_;
};

class MessageRef : public MessageView {
 public:
  MessageRef(const bw_host_api* api, bw_message* message) noexcept : MessageView(api, message) {}

  // Setters throw Error with the host's status when the host refuses (e.g. out of memory).
  void setBody(std::string_view body, std::string_view media_type) const {
    // The arguments may point into this very message (setBody(body().substr(5), ...)); copy
    // them first so the host never reads storage it is replacing.
    std::string body_copy;
    std::string type_copy;
    if (overlaps(body, this->body()) || overlaps(body, mediaType())) body = body_copy.assign(body);
    if (overlaps(media_type, this->body()) || overlaps(media_type, mediaType()))
      media_type = type_copy.assign(media_type);
    check(api_->message_set_body(mutableHandle(), detail::str(body), detail::str(media_type)),
          "set the body");
  }
  // Keeps the media type.
  void setBody(std::string_view body) const { setBody(body, mediaType()); }
  void setCorrelationId(std::string_view id) const {
    const std::string copy(id);
    check(api_->message_set_correlation_id(mutableHandle(), detail::str(copy)),
          "set the correlation id");
  }
  void setHeader(std::string_view name, std::string_view value) const {
    // Copies: either may point into this message's own headers.
    const std::string name_copy(name);
    const std::string value_copy(value);
    check(
        api_->message_header_set(mutableHandle(), detail::str(name_copy), detail::str(value_copy)),
        "set a header");
  }
  void setHeader(std::string_view name, std::int64_t value) const {
    check(api_->message_header_set_int(mutableHandle(), detail::str(name), value), "set a header");
  }
  // Overloads so that setHeader("n", 5) does not pick the string one through bool or char.
  void setHeader(std::string_view name, int value) const {
    setHeader(name, static_cast<std::int64_t>(value));
  }
  void setHeader(std::string_view name, const char* value) const {
    setHeader(name, std::string_view(value));
  }
  void removeHeader(std::string_view name) const {
    check(api_->message_header_remove(mutableHandle(), detail::str(name)), "remove a header");
  }

  // Makes this message a copy of `other`'s body, media type and headers (existing headers of
  // the same name are replaced, others kept). Used to write a reply into a request.
  void assign(const MessageView& other) const {
    setBody(other.body(), other.mediaType());
    other.forEachHeader(
        [this](std::string_view name, std::string_view value) { setHeader(name, value); });
  }

  bw_message* handle() const noexcept { return mutableHandle(); }

 private:
  // Built from a non-const pointer (see the constructor), so giving the constness back is sound.
  bw_message* mutableHandle() const noexcept { return const_cast<bw_message*>(message_); }

  static bool overlaps(std::string_view a, std::string_view b) noexcept {
    if (a.empty() || b.empty()) return false;
    const auto* a0 = a.data();
    const auto* b0 = b.data();
    return !(std::less<>{}(a0 + a.size() - 1, b0) || std::less<>{}(b0 + b.size() - 1, a0));
  }
  static void check(bw_status status, const char* what) {
    if (status != BW_OK) throw Error(fromC(status), std::string("the host could not ") + what);
  }
};

class OwnedMessage : public MessageRef {
 public:
  OwnedMessage() noexcept : MessageRef(nullptr, nullptr) {}
  // Takes `message_owned` (from message_new).
  OwnedMessage(const bw_host_api* api, bw_message* message_owned) noexcept
      : MessageRef(api, message_owned) {}
  OwnedMessage(const OwnedMessage&) = delete;
  OwnedMessage& operator=(const OwnedMessage&) = delete;
  OwnedMessage(OwnedMessage&& other) noexcept : MessageRef(other.api_, other.release()) {}
  OwnedMessage& operator=(OwnedMessage&& other) noexcept {
    if (this != &other) {
      reset();
      api_ = other.api_;
      message_ = other.release();
    }
    return *this;
  }
  ~OwnedMessage() { reset(); }

  explicit operator bool() const noexcept { return message_ != nullptr; }
  // Gives up ownership: the caller (or the host it is passed to) frees it.
  bw_message* release() noexcept {
    bw_message* message = handle();
    message_ = nullptr;
    return message;
  }
  void reset() noexcept {
    if (message_ != nullptr) api_->message_free(release());
  }
};

}  // namespace busway::sdk
