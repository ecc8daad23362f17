#include "nats_client.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <future>
#include <random>
#include <stdexcept>
#include <utility>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace busway::nats {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) parts.push_back(text.substr(start, i - start));
  }
  return parts;
}

std::size_t toSize(std::string_view text) {
  std::size_t n = 0;
  if (text.empty()) throw std::runtime_error("empty number in a NATS protocol line");
  for (const char c : text) {
    if (c < '0' || c > '9')
      throw std::runtime_error("bad number '" + std::string(text) + "' in a NATS protocol line");
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// "NATS/1.0 503 No Responders\r\nName: value\r\n\r\n" -> status, description, headers.
void parseHeaders(std::string_view block, Msg& msg) {
  std::size_t pos = block.find("\r\n");
  const std::string_view first = block.substr(0, pos);
  if (first.substr(0, 8) != "NATS/1.0") throw std::runtime_error("a header block without NATS/1.0");
  std::string_view rest = first.substr(8);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const auto space = rest.find(' ');
  msg.status = std::string(rest.substr(0, space));
  if (space != std::string_view::npos) msg.description = std::string(rest.substr(space + 1));
  while (pos != std::string_view::npos && pos + 2 < block.size()) {
    const std::size_t start = pos + 2;
    pos = block.find("\r\n", start);
    const std::string_view line =
        block.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    msg.headers.push_back(Header{std::string(line.substr(0, colon)), std::string(value)});
  }
}

std::string headerBlock(const std::vector<Header>& headers) {
  std::string block = "NATS/1.0\r\n";
  for (const auto& h : headers) {
    // Header lines cannot hold line breaks; a name cannot hold ':' or spaces.
    std::string name;
    for (const char c : h.name) name += (c == ':' || c == ' ' || c == '\r' || c == '\n') ? '-' : c;
    std::string value;
    for (const char c : h.value) value += (c == '\r' || c == '\n') ? ' ' : c;
    block += name + ": " + value + "\r\n";
  }
  return block + "\r\n";
}

bool validSubjectToken(std::string_view subject) {
  if (subject.empty()) return false;
  for (const char c : subject) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
  }
  return true;
}

}  // namespace

const std::string* Msg::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(h.name[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return &h.value;
  }
  return nullptr;
}

std::string randomToken(std::size_t length) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::random_device device;
  std::mt19937_64 random(device());
  std::string out;
  for (std::size_t i = 0; i < length; ++i) out += kChars[random() % (sizeof(kChars) - 1)];
  return out;
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  inbox_prefix_ = "_INBOX." + randomToken(16);
}

Client::~Client() { close(); }

void Client::log(int level, const std::string& text) const {
  if (options_.log) options_.log(level, text);
}

bool Client::start(milliseconds wait) {
  if (reader_.joinable()) return connected_;
  reader_ = std::thread([this] { run(); });
  std::unique_lock<std::mutex> lock(state_mutex_);
  state_cv_.wait_for(lock, wait, [this] { return connected_.load() || closing_.load(); });
  return connected_;
}

void Client::close() {
  if (closing_.exchange(true)) {
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(write_mutex_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }
  state_cv_.notify_all();
  if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
  {
    const std::lock_guard<std::mutex> lock(write_mutex_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  connected_ = false;
  sweepRequests(true, "the connection to " + where() + " was closed");
}

void Client::run() {
  milliseconds delay = options_.reconnect_delay;
  bool reported = false;
  while (!closing_) {
    std::string error;
    if (connectOnce(error)) {
      delay = options_.reconnect_delay;
      reported = false;
      readLoop();
      connected_ = false;
      {
        const std::lock_guard<std::mutex> lock(write_mutex_);
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
      }
      if (closing_) break;
      log(3, "nats: lost the connection to " + where() + "; reconnecting");
      sweepRequests(true, "the connection to " + where() + " was lost");
      continue;
    }
    if (!reported) {
      log(3, "nats: cannot connect to " + where() + " (" + error + "); retrying every " +
                 std::to_string(delay.count()) + "ms and up to " +
                 std::to_string(options_.reconnect_delay_max.count()) + "ms");
      reported = true;
    }
    std::unique_lock<std::mutex> lock(state_mutex_);
    state_cv_.wait_for(lock, delay, [this] { return closing_.load(); });
    delay = std::min(delay * 2, options_.reconnect_delay_max);
    lock.unlock();
    sweepRequests(true, "not connected to " + where());
  }
}

bool Client::connectOnce(std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int gai =
      ::getaddrinfo(options_.host.c_str(), std::to_string(options_.port).c_str(), &hints, &found);
  if (gai != 0) {
    error = ::gai_strerror(gai);
    return false;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  {
    const std::lock_guard<std::mutex> lock(write_mutex_);
    fd_ = fd;
  }
  buffer_.clear();
  buffer_pos_ = 0;
  std::string line;
  if (!readLine(line) || line.substr(0, 4) != "INFO") {
    error = "the server did not greet with INFO";
    const std::lock_guard<std::mutex> lock(write_mutex_);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  nlohmann::json connect = {{"verbose", false},      {"pedantic", false},    {"headers", true},
                            {"no_responders", true}, {"lang", "cpp"},        {"version", "0.1.0"},
                            {"protocol", 1},         {"name", options_.name}};
  if (!options_.user.empty()) {
    connect["user"] = options_.user;
    connect["pass"] = options_.password;
  }
  if (!options_.token.empty()) connect["auth_token"] = options_.token;
  const auto fail = [&](const std::string& why) {
    error = why;
    const std::lock_guard<std::mutex> lock(write_mutex_);
    ::close(fd_);
    fd_ = -1;
    return false;
  };
  try {
    write("CONNECT " + connect.dump() + "\r\nPING\r\n");
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  // PONG, or -ERR for bad credentials. Nothing else can come before: no subscriptions yet.
  for (;;) {
    std::string reply;
    if (!readLine(reply)) return fail("the server closed the connection after CONNECT");
    if (reply.substr(0, 4) == "-ERR") {
      log(4, "nats: " + where() + " refused the connection: " + reply.substr(5));
      return fail("the server refused CONNECT: " + reply.substr(5));
    }
    if (reply.substr(0, 4) == "PONG") break;
  }
  std::string subs;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    for (const auto& [sid, sub] : subscriptions_) {
      subs += "SUB " + sub.subject + (sub.queue.empty() ? "" : " " + sub.queue) + " " +
              std::to_string(sid) + "\r\n";
    }
    ++connects_;
    pongs_received_ = pings_sent_;  // pongs lost with the old connection will not come
  }
  try {
    if (!subs.empty()) write(subs);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  connected_ = true;
  state_cv_.notify_all();
  log(2, "nats: connected to " + where() + (connects_ > 1 ? " again; subscriptions renewed" : ""));
  return true;
}

bool Client::readLine(std::string& line) {
  for (;;) {
    const auto end = buffer_.find("\r\n", buffer_pos_);
    if (end != std::string::npos) {
      line.assign(buffer_, buffer_pos_, end - buffer_pos_);
      buffer_pos_ = end + 2;
      return true;
    }
    if (buffer_pos_ > 0) {
      buffer_.erase(0, buffer_pos_);
      buffer_pos_ = 0;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (closing_) return false;
    // Requests that time out are swept here, at least every 100ms even under load.
    const auto now = Clock::now();
    if (ready == 0 || now - last_sweep_ >= std::chrono::milliseconds(100)) {
      last_sweep_ = now;
      sweepRequests(false, "");
      if (ready == 0) continue;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool Client::readBytes(std::size_t n, std::string& out) {
  while (buffer_.size() - buffer_pos_ < n + 2) {
    if (buffer_pos_ > 0) {
      buffer_.erase(0, buffer_pos_);
      buffer_pos_ = 0;
    }
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (closing_) return false;
    if (ready <= 0) {
      if (ready < 0 && errno != EINTR) return false;
      continue;
    }
    char chunk[65536];
    const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
  out.assign(buffer_, buffer_pos_, n);
  buffer_pos_ += n + 2;  // the payload's trailing CRLF
  return true;
}

void Client::readLoop() {
  std::string line;
  try {
    while (!closing_ && readLine(line)) {
      if (line.empty()) continue;
      const auto parts = split(line);
      if (parts.empty()) continue;
      const std::string_view op = parts[0];
      if (op == "MSG" || op == "msg") {
        // MSG <subject> <sid> [reply-to] <#bytes>
        if (parts.size() != 4 && parts.size() != 5)
          throw std::runtime_error("malformed MSG line: " + line);
        Msg msg;
        msg.subject = std::string(parts[1]);
        const int sid = static_cast<int>(toSize(parts[2]));
        if (parts.size() == 5) msg.reply = std::string(parts[3]);
        if (!readBytes(toSize(parts.back()), msg.payload)) break;
        handleMessage(std::move(msg), sid);
      } else if (op == "HMSG" || op == "hmsg") {
        // HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>
        if (parts.size() != 5 && parts.size() != 6)
          throw std::runtime_error("malformed HMSG line: " + line);
        Msg msg;
        msg.subject = std::string(parts[1]);
        const int sid = static_cast<int>(toSize(parts[2]));
        if (parts.size() == 6) msg.reply = std::string(parts[3]);
        const std::size_t header_bytes = toSize(parts[parts.size() - 2]);
        const std::size_t total = toSize(parts.back());
        if (header_bytes > total) throw std::runtime_error("malformed HMSG sizes: " + line);
        std::string all;
        if (!readBytes(total, all)) break;
        parseHeaders(std::string_view(all).substr(0, header_bytes), msg);
        msg.payload = all.substr(header_bytes);
        handleMessage(std::move(msg), sid);
      } else if (op == "PING") {
        write("PONG\r\n");
      } else if (op == "PONG") {
        {
          const std::lock_guard<std::mutex> lock(state_mutex_);
          ++pongs_received_;
        }
        state_cv_.notify_all();
      } else if (op == "+OK" || op == "INFO") {
        // verbose is off; INFO updates (cluster changes) need nothing here
      } else if (op == "-ERR") {
        log(4, "nats: " + where() + " reported an error: " + line.substr(5));
      } else {
        log(3, "nats: unexpected line from " + where() + ": " + line.substr(0, 200));
      }
    }
  } catch (const std::exception& e) {
    log(4, std::string("nats: protocol error, reconnecting: ") + e.what());
  }
}

void Client::handleMessage(Msg&& msg, int sid) {
  Handler handler;
  ReplyHandler reply_done;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    if (sid == inbox_sid_) {
      const auto it = pending_.find(msg.subject);
      if (it == pending_.end()) return;  // timed out already
      reply_done = std::move(it->second.done);
      pending_.erase(it);
    } else {
      const auto it = subscriptions_.find(sid);
      if (it == subscriptions_.end()) return;  // unsubscribed
      handler = it->second.handler;
    }
  }
  if (reply_done) {
    if (msg.status == "503") {
      reply_done(std::nullopt, "no responders on the subject");
    } else {
      reply_done(std::move(msg), "");
    }
    return;
  }
  if (handler) handler(std::move(msg));
}

void Client::write(const std::string& data) {
  const std::lock_guard<std::mutex> lock(write_mutex_);
  if (fd_ < 0) throw ConnectionError("not connected to the NATS server at " + where());
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ConnectionError("cannot write to the NATS server at " + where() + ": " +
                            std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
}

int Client::subscribe(const std::string& subject, const std::string& queue, Handler handler) {
  if (!validSubjectToken(subject))
    throw std::invalid_argument("'" + subject + "' is not a NATS subject");
  int sid = 0;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    sid = next_sid_++;
    subscriptions_[sid] = Subscription{subject, queue, std::move(handler)};
  }
  try {
    write("SUB " + subject + (queue.empty() ? "" : " " + queue) + " " + std::to_string(sid) +
          "\r\n");
  } catch (const ConnectionError&) {
    // sent when the connection comes (back)
  }
  return sid;
}

void Client::unsubscribe(int sid) {
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    subscriptions_.erase(sid);
  }
  try {
    write("UNSUB " + std::to_string(sid) + "\r\n");
  } catch (const ConnectionError&) {
  }
}

void Client::publish(std::string_view subject, std::string_view reply,
                     const std::vector<Header>& headers, std::string_view payload) {
  if (!validSubjectToken(subject))
    throw std::invalid_argument("'" + std::string(subject) + "' is not a NATS subject");
  std::string out;
  const std::string reply_part = reply.empty() ? std::string() : " " + std::string(reply);
  if (headers.empty()) {
    out.reserve(subject.size() + payload.size() + 40);
    out += "PUB ";
    out += subject;
    out += reply_part + " " + std::to_string(payload.size()) + "\r\n";
  } else {
    const std::string block = headerBlock(headers);
    out += "HPUB ";
    out += subject;
    out += reply_part + " " + std::to_string(block.size()) + " " +
           std::to_string(block.size() + payload.size()) + "\r\n";
    out += block;
  }
  out += payload;
  out += "\r\n";
  write(out);
}

void Client::ensureInbox() {
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    if (inbox_sid_ != 0) return;
    inbox_sid_ = next_sid_++;
    subscriptions_[inbox_sid_] = Subscription{inbox_prefix_ + ".*", "", nullptr};
  }
  try {
    write("SUB " + inbox_prefix_ + ".* " + std::to_string(inbox_sid_) + "\r\n");
  } catch (const ConnectionError&) {
  }
}

void Client::request(std::string_view subject, const std::vector<Header>& headers,
                     std::string_view payload, milliseconds timeout, ReplyHandler done) {
  ensureInbox();
  std::string inbox;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    inbox = inbox_prefix_ + "." + std::to_string(next_request_++);
    pending_[inbox] = Pending{std::move(done), Clock::now() + timeout};
  }
  try {
    publish(subject, inbox, headers, payload);
  } catch (const std::exception& e) {
    ReplyHandler failed;
    {
      const std::lock_guard<std::mutex> lock(state_mutex_);
      const auto it = pending_.find(inbox);
      if (it == pending_.end()) return;
      failed = std::move(it->second.done);
      pending_.erase(it);
    }
    failed(std::nullopt, e.what());
  }
}

Msg Client::requestSync(std::string_view subject, const std::vector<Header>& headers,
                        std::string_view payload, milliseconds timeout) {
  auto promise = std::make_shared<std::promise<std::pair<std::optional<Msg>, std::string>>>();
  auto future = promise->get_future();
  request(subject, headers, payload, timeout,
          [promise](std::optional<Msg> reply, const std::string& error) {
            promise->set_value({std::move(reply), error});
          });
  auto [reply, error] = future.get();
  if (!reply)
    throw std::runtime_error("request to '" + std::string(subject) + "' at " + where() +
                             " failed: " + error);
  return std::move(*reply);
}

bool Client::flush(milliseconds timeout) {
  std::uint64_t wanted = 0;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    wanted = ++pings_sent_;
  }
  try {
    write("PING\r\n");
  } catch (const ConnectionError&) {
    return false;
  }
  std::unique_lock<std::mutex> lock(state_mutex_);
  return state_cv_.wait_for(lock, timeout, [&] { return pongs_received_ >= wanted || closing_; }) &&
         !closing_;
}

void Client::sweepRequests(bool all, const std::string& why) {
  std::vector<ReplyHandler> expired;
  std::vector<ReplyHandler> dropped;
  {
    const std::lock_guard<std::mutex> lock(state_mutex_);
    const auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (all) {
        dropped.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : expired) done(std::nullopt, "no reply within the timeout");
  for (auto& done : dropped) done(std::nullopt, why);
}

// ---- JetStream ---------------------------------------------------------------------------

namespace {

nlohmann::json apiCall(Client& client, const std::string& subject, const nlohmann::json& body,
                       milliseconds timeout) {
  const Msg reply = client.requestSync(subject, {}, body.dump(), timeout);
  nlohmann::json json = nlohmann::json::parse(reply.payload, nullptr, false);
  if (json.is_discarded())
    throw std::runtime_error(subject + ": the server's answer is not JSON: " + reply.payload);
  return json;
}

}  // namespace

void ensureStream(Client& client, const std::string& name, const std::string& subject,
                  milliseconds timeout) {
  const nlohmann::json request = {
      {"name", name}, {"subjects", {subject}}, {"storage", "file"}, {"retention", "limits"}};
  const nlohmann::json answer = apiCall(client, "$JS.API.STREAM.CREATE." + name, request, timeout);
  if (!answer.contains("error")) return;
  const auto& error = answer["error"];
  // 10058: a stream of that name exists (with another configuration): use it as it is.
  if (error.value("err_code", 0) == 10058) return;
  throw std::runtime_error("cannot create the JetStream stream '" + name + "' for '" + subject +
                           "': " + error.value("description", error.dump()));
}

void ensureConsumer(Client& client, const ConsumerConfig& c, milliseconds timeout) {
  nlohmann::json config = {{"durable_name", c.durable},
                           {"deliver_subject", c.deliver_subject},
                           {"ack_policy", "explicit"},
                           {"ack_wait", static_cast<std::int64_t>(c.ack_wait.count()) * 1000000},
                           {"max_ack_pending", c.max_ack_pending},
                           {"max_deliver", -1},
                           {"deliver_policy", c.deliver_policy},
                           {"replay_policy", "instant"}};
  if (!c.filter_subject.empty()) config["filter_subject"] = c.filter_subject;
  if (!c.deliver_group.empty()) config["deliver_group"] = c.deliver_group;
  const nlohmann::json request = {{"stream_name", c.stream}, {"config", config}};
  const nlohmann::json answer = apiCall(
      client, "$JS.API.CONSUMER.DURABLE.CREATE." + c.stream + "." + c.durable, request, timeout);
  if (!answer.contains("error")) return;
  const auto& error = answer["error"];
  throw std::runtime_error(
      "cannot create the JetStream consumer '" + c.durable + "' on stream '" + c.stream +
      "': " + error.value("description", error.dump()) +
      " (a durable that exists with another configuration must be deleted first)");
}

std::optional<AckMetadata> parseAckSubject(std::string_view reply) {
  std::vector<std::string_view> tokens;
  std::size_t start = 0;
  while (start <= reply.size()) {
    const auto dot = reply.find('.', start);
    tokens.push_back(
        reply.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (9 tokens); newer
  // servers add a domain and an account hash in front (11 or 12 tokens).
  if (tokens.size() < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return std::nullopt;
  const std::size_t base = tokens.size() == 9 ? 2 : 4;
  try {
    AckMetadata m;
    m.stream = std::string(tokens[base]);
    m.consumer = std::string(tokens[base + 1]);
    m.delivered = toSize(tokens[base + 2]);
    m.stream_sequence = toSize(tokens[base + 3]);
    return m;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::uint64_t parsePubAck(const Msg& reply) {
  const nlohmann::json json = nlohmann::json::parse(reply.payload, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    throw std::runtime_error("not a JetStream PubAck: " + reply.payload);
  if (json.contains("error")) {
    const auto& error = json["error"];
    throw std::runtime_error(error.value("description", error.dump()));
  }
  return json.value("seq", std::uint64_t{0});
}

}  // namespace busway::nats
