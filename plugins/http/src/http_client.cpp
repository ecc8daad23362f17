#include "http_client.hpp"

#include <istream>
#include <ostream>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/StreamCopier.h>

namespace busway::http {

Workers::~Workers() {
  std::vector<std::thread> threads;
  std::deque<std::unique_ptr<Task>> left;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& thread : threads) thread.join();
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    left.swap(queue_);
  }
  left.clear();  // a deferred send dropped unrun fails (the SDK reports it), so nothing hangs
}

void Workers::push(std::unique_ptr<Task> task) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_)
      throw sdk::RejectedError("the http plugin is stopping; the request was not sent");
    queue_.push_back(std::move(task));
    if (threads_.size() < size_ && running_ + queue_.size() > threads_.size()) {
      threads_.emplace_back([this] { loop(); });
    }
  }
  wake_.notify_one();
}

void Workers::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    try {
      task->run();
    } catch (...) {  // NOLINT(bugprone-empty-catch): tasks report their own failures
    }
    task.reset();
    lock.lock();
    --running_;
    if (running_ == 0 && queue_.empty()) idle_.notify_all();
  }
}

void Workers::drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait_for(lock, timeout, [this] { return running_ == 0 && queue_.empty(); });
}

std::unique_ptr<Poco::Net::HTTPClientSession> SessionPool::take(const std::string& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto session = std::move(it->second.back());
  it->second.pop_back();
  return session;
}

void SessionPool::give(const std::string& key,
                       std::unique_ptr<Poco::Net::HTTPClientSession> session) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto& sessions = idle_[key];
  if (sessions.size() < per_key_) sessions.push_back(std::move(session));
}

SessionPool::~SessionPool() = default;

namespace {

std::string seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

Poco::Timespan span(std::chrono::milliseconds d) {
  return Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

std::unique_ptr<Poco::Net::HTTPClientSession> connect(const ClientTarget& target) {
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  if (target.tls) {
    session = std::make_unique<Poco::Net::HTTPSClientSession>(
        target.host, static_cast<Poco::UInt16>(target.port), target.context);
  } else {
    session = std::make_unique<Poco::Net::HTTPClientSession>(
        target.host, static_cast<Poco::UInt16>(target.port));
  }
  session->setTimeout(span(target.connect_timeout), span(target.timeout), span(target.timeout));
  session->setKeepAlive(true);
  return session;
}

Response exchange(Poco::Net::HTTPClientSession& session, const Request& request) {
  Poco::Net::HTTPRequest out(request.method, request.target, Poco::Net::HTTPMessage::HTTP_1_1);
  out.setKeepAlive(true);
  for (const auto& [name, value] : request.headers) out.set(name, value);
  const bool with_body = request.method != "GET" && request.method != "HEAD";
  if (with_body) {
    if (!request.body.empty()) out.setContentType(request.media_type);
    out.setContentLength64(static_cast<Poco::Int64>(request.body.size()));
  }
  std::ostream& os = session.sendRequest(out);
  if (with_body && !request.body.empty())
    os.write(request.body.data(), static_cast<std::streamsize>(request.body.size()));
  Poco::Net::HTTPResponse in;
  std::istream& is = session.receiveResponse(in);
  Response response;
  response.status = static_cast<int>(in.getStatus());
  response.reason = in.getReason();
  Poco::StreamCopier::copyToString(is, response.body);
  response.content_type = in.getContentType();
  for (const auto& [name, value] : in) response.headers.emplace_back(name, value);
  if (!in.getKeepAlive()) session.reset();
  return response;
}

}  // namespace

Response perform(const ClientTarget& target, const Request& request, SessionPool& pool) {
  // A pooled connection the server closed meanwhile fails at once: try once more on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto session = attempt == 0 ? pool.take(target.pool_key) : nullptr;
    const bool reused = session != nullptr;
    try {
      if (!session) session = connect(target);
      Response response = exchange(*session, request);
      if (session->connected()) pool.give(target.pool_key, std::move(session));
      return response;
    } catch (const Poco::TimeoutException&) {
      throw sdk::TransientError(request.url + ": no answer within " + seconds(target.timeout) +
                                " (option timeout; connect-timeout " +
                                seconds(target.connect_timeout) + ")");
    } catch (const Poco::Net::ConnectionRefusedException& e) {
      throw sdk::TransientError(request.url + ": connection refused (" + e.displayText() +
                                "); is the server up on that host and port?");
    } catch (const Poco::Net::SSLException& e) {
      if (reused) continue;
      throw sdk::Error(
          sdk::Status::permanent,
          request.url + ": TLS failed: " + e.displayText() +
              (target.verify
                   ? "; if the server's certificate is signed by your own CA, give it with "
                     "ca-file=/path/ca.pem (the certificate must also name the host)"
                   : ""));
    } catch (const Poco::Net::HostNotFoundException& e) {
      throw sdk::TransientError(request.url + ": " + e.displayText() + " (check the host name)");
    } catch (const Poco::Exception& e) {
      if (reused) continue;
      throw sdk::TransientError(request.url + ": " + e.displayText());
    }
  }
  throw sdk::TransientError(request.url + ": the connection broke twice");
}

}  // namespace busway::http
