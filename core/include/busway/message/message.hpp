#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "busway/message/body.hpp"
#include "busway/message/headers.hpp"

namespace busway {

// One entry in a message's history: which step of which route handled it, when, and how
// it went. Route and step names are interned (they live for the life of the process), so
// recording history costs no allocation per step.
struct HistoryEntry {
  const std::string* route = nullptr;
  const std::string* step = nullptr;
  std::chrono::system_clock::time_point at;
  bool failed = false;
};

// Returns a stable pointer for `name`; equal names give the same pointer.
const std::string* intern(std::string_view name);

// A message: identity, typed headers, a shared immutable body and a history. Copying a
// Message is cheap: body, headers and history are shared until written (copy on write).
class Message {
 public:
  Message();  // fresh id, timestamp now, empty body
  explicit Message(BodyPtr body);

  const std::string& id() const noexcept { return id_; }
  void setId(std::string id) { id_ = std::move(id); }
  // The correlation id ties related messages together (a request and its reply, the
  // parts of a split). Defaults to the message's own id.
  const std::string& correlationId() const noexcept {
    return correlation_id_.empty() ? id_ : correlation_id_;
  }
  void setCorrelationId(std::string id) { correlation_id_ = std::move(id); }
  std::chrono::system_clock::time_point timestamp() const noexcept { return timestamp_; }
  void setTimestamp(std::chrono::system_clock::time_point at) noexcept { timestamp_ = at; }

  Headers& headers() noexcept { return headers_; }
  const Headers& headers() const noexcept { return headers_; }

  const Body& body() const noexcept { return *body_; }
  const BodyPtr& bodyPtr() const noexcept { return body_; }
  std::string_view bodyText() const noexcept { return body_->bytes(); }
  void setBody(BodyPtr body);
  void setBody(std::string bytes, std::string media_type);

  const std::vector<HistoryEntry>& history() const noexcept;
  void recordStep(const std::string* route, const std::string* step, bool failed = false);

  // A copy with a new id whose correlation id points at this message (split parts,
  // multicast branches, wire taps).
  Message derive() const;

  static std::string newId();

 private:
  std::string id_;
  std::string correlation_id_;
  std::chrono::system_clock::time_point timestamp_;
  Headers headers_;
  BodyPtr body_;
  std::shared_ptr<std::vector<HistoryEntry>> history_;
};

}  // namespace busway
