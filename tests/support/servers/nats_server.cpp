#include "servers/nats_server.hpp"

#include <filesystem>
#include <stdexcept>

#include "servers/server_support.hpp"

namespace busway::testing {

NatsServer::NatsServer() : port_(freePort()) { start(); }

NatsServer::~NatsServer() {
  if (process_) process_->stop(std::chrono::seconds(5));
}

std::string NatsServer::uri(const std::string& subject) const {
  return "nats://127.0.0.1:" + std::to_string(port_) + "/" + subject;
}

std::string NatsServer::log() const {
  return past_log_ + (process_ ? process_->err() + process_->out() : std::string());
}

void NatsServer::start() {
  const std::string program = requireProgram({"/usr/sbin/nats-server", "nats-server"}, "servers");
  const std::string store = dir_.path() + "/store";
  std::filesystem::create_directories(store);
  process_ = std::make_unique<ChildProcess>();
  if (!process_->start(
          {program, "-a", "127.0.0.1", "-p", std::to_string(port_), "-js", "-sd", store},
          dir_.path())) {
    throw std::runtime_error("cannot start " + program);
  }
  if (!waitForPort(port_, std::chrono::seconds(20)) || !process_->running()) {
    throw std::runtime_error("nats-server did not listen on 127.0.0.1:" + std::to_string(port_) +
                             ": " + log());
  }
}

void NatsServer::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(10));
  past_log_ += process_->err() + process_->out();
  process_.reset();
}

}  // namespace busway::testing
