#include "servers/mosquitto_server.hpp"

#include <csignal>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <pwd.h>
#include <unistd.h>

#include "servers/server_support.hpp"

namespace busway::testing {

MosquittoServer::MosquittoServer(std::string extra_config)
    : port_(freePort()), extra_config_(std::move(extra_config)) {
  start();
}

MosquittoServer::~MosquittoServer() {
  if (process_) process_->stop(std::chrono::seconds(5));
}

std::string MosquittoServer::uri(const std::string& topic) const {
  return "mqtt://127.0.0.1:" + std::to_string(port_) + "/" + topic;
}

std::string MosquittoServer::log() const {
  return past_log_ + (process_ ? process_->err() + process_->out() : std::string());
}

void MosquittoServer::start() {
  const std::string program = requireProgram({"/usr/sbin/mosquitto", "mosquitto"}, "servers");
  std::ostringstream conf;
  // Run as whoever runs the test: as root, mosquitto would otherwise switch to the user
  // 'mosquitto', which cannot write the persistence file into our private folder.
  const passwd* user = ::getpwuid(::geteuid());
  if (user != nullptr) conf << "user " << user->pw_name << "\n";
  conf << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "persistence true\n"
       << "persistence_location " << dir_.path() << "/\n"
       << "persistence_file mosquitto.db\n"
       << "autosave_interval 0\n"
       << "max_queued_messages 0\n"
       << "max_inflight_messages 100\n"
       << "set_tcp_nodelay true\n"
       << "log_dest stderr\n"
       << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
       << "connection_messages true\n"
       << extra_config_ << "\n";
  const std::string conf_path = dir_.write("mosquitto.conf", conf.str());
  ++generation_;
  const std::string log_dir = dir_.path() + "/run" + std::to_string(generation_);
  std::filesystem::create_directories(log_dir);
  process_ = std::make_unique<ChildProcess>();
  if (!process_->start({program, "-c", conf_path}, log_dir)) {
    throw std::runtime_error("cannot start " + program);
  }
  // The port may still be held by the previous run for a moment after a restart.
  if (!waitForPort(port_, std::chrono::seconds(20)) || !process_->running()) {
    throw std::runtime_error("mosquitto did not listen on 127.0.0.1:" + std::to_string(port_) +
                             ": " + log());
  }
}

void MosquittoServer::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(10));
  past_log_ += process_->err() + process_->out();
  process_.reset();
}

bool MosquittoServer::running() { return process_ && process_->running(); }

}  // namespace busway::testing
