#include "rabbitmq_server.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_support.hpp"

namespace busway::testing {

namespace {

// The real start script (Debian's /usr/sbin/rabbitmq-server is a wrapper that runs it as
// the rabbitmq user, with its own HOME and logs).
std::string findScript() {
  requireProgram({"/usr/sbin/rabbitmq-server"}, "servers");
  DIR* dir = ::opendir("/usr/lib/rabbitmq/lib");
  std::string found;
  if (dir != nullptr) {
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.rfind("rabbitmq_server-", 0) != 0) continue;
      const std::string script = "/usr/lib/rabbitmq/lib/" + name + "/sbin/rabbitmq-server";
      if (::access(script.c_str(), X_OK) == 0 && script > found) found = script;
    }
    ::closedir(dir);
  }
  if (found.empty())
    throw std::runtime_error("no /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server");
  return found;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The children of `parent` whose command name is `name`.
pid_t childNamed(pid_t parent, const std::string& name) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (const dirent* entry = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    // pid (comm) state ppid ...; comm may contain spaces: read after the last ')'.
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && comm == name) {
      found = pid;
      break;
    }
  }
  ::closedir(proc);
  return found;
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

}  // namespace

RabbitMqServer::RabbitMqServer(bool tls) {
  script_ = findScript();
  const std::string epmd = requireProgram({"/usr/bin/epmd", "epmd"}, "servers");
  port_ = freePort();
  dist_port_ = freePort();
  epmd_port_ = freePort();
  while (dist_port_ == port_) dist_port_ = freePort();
  while (epmd_port_ == port_ || epmd_port_ == dist_port_) epmd_port_ = freePort();
  std::string tls_config;
  if (tls) {
    tls_port_ = freePort();
    while (tls_port_ == port_ || tls_port_ == dist_port_ || tls_port_ == epmd_port_)
      tls_port_ = freePort();
    const std::string openssl = requireProgram({"/usr/bin/openssl", "openssl"}, "servers");
    const std::string t = dir_.file("tls");
    ::mkdir(t.c_str(), 0755);
    dir_.write("tls/server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    const std::vector<std::vector<std::string>> steps = {
        {openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", t + "/ca.key", "-out",
         t + "/ca.pem", "-days", "2", "-subj", "/CN=busway test CA"},
        {openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", t + "/server.key", "-out",
         t + "/server.csr", "-subj", "/CN=localhost"},
        {openssl, "x509", "-req", "-in", t + "/server.csr", "-CA", t + "/ca.pem", "-CAkey",
         t + "/ca.key", "-CAcreateserial", "-out", t + "/server.pem", "-days", "2", "-extfile",
         t + "/server.ext"},
    };
    for (const auto& step : steps) {
      const CommandResult r = runCommand(step);
      if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.out + r.err);
    }
    tls_config = "listeners.ssl.default = 127.0.0.1:" + std::to_string(tls_port_) + "\n" +
                 "ssl_options.cacertfile = " + t + "/ca.pem\n" + "ssl_options.certfile = " + t +
                 "/server.pem\n" + "ssl_options.keyfile = " + t + "/server.key\n" +
                 "ssl_options.verify = verify_none\n" +
                 "ssl_options.fail_if_no_peer_cert = false\n";
  }
  node_name_ =
      "busway-test-" + std::to_string(::getpid()) + "-" + std::to_string(port_) + "@localhost";
  dir_.write("rabbitmq.conf", "listeners.tcp.default = 127.0.0.1:" + std::to_string(port_) +
                                  "\n"
                                  "loopback_users.guest = true\n"
                                  "disk_free_limit.absolute = 10MB\n"
                                  "vm_memory_high_watermark.relative = 0.8\n"
                                  "log.console = false\n"
                                  "log.file.level = info\n" +
                                  tls_config);
  dir_.write("enabled_plugins", "[].\n");
  ::mkdir(dir_.file("epmd").c_str(), 0755);
  epmd_ = std::make_unique<ChildProcess>();
  if (!epmd_->start({epmd, "-port", std::to_string(epmd_port_), "-address", "127.0.0.1"},
                    dir_.file("epmd"), {{"ERL_EPMD_PORT", std::to_string(epmd_port_)}})) {
    throw std::runtime_error("cannot start " + epmd);
  }
  if (!waitForPort(epmd_port_, std::chrono::seconds(20))) {
    throw std::runtime_error("epmd did not listen on 127.0.0.1:" + std::to_string(epmd_port_));
  }
  start();
}

RabbitMqServer::~RabbitMqServer() {
  try {
    if (beam_pid_ > 0) stop();
  } catch (...) {
  }
  if (beam_pid_ > 0) ::kill(beam_pid_, SIGKILL);
  script_process_.reset();  // SIGKILL and reap, if it still runs
  if (epmd_) epmd_->stop(std::chrono::seconds(2));
}

std::string RabbitMqServer::uri() const {
  return "amqp://127.0.0.1:" + std::to_string(port_) + "/";
}

void RabbitMqServer::start() {
  if (beam_pid_ > 0) return;
  const std::string run_dir = dir_.file("run-" + std::to_string(++starts_));
  ::mkdir(run_dir.c_str(), 0755);
  const std::map<std::string, std::string> env = {
      {"HOME", dir_.path()},
      {"RABBITMQ_NODENAME", node_name_},
      {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_NODE_PORT", std::to_string(port_)},
      {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
      {"ERL_EPMD_PORT", std::to_string(epmd_port_)},
      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_MNESIA_BASE", dir_.file("mnesia")},
      {"RABBITMQ_LOG_BASE", dir_.file("log")},
      {"RABBITMQ_CONFIG_FILE", dir_.file("rabbitmq.conf")},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", dir_.file("enabled_plugins")},
      {"RABBITMQ_PID_FILE", dir_.file("rabbitmq.pid")},
      {"RABBITMQ_CONF_ENV_FILE", dir_.file("rabbitmq-env.conf")},
      {"RABBITMQ_ADVANCED_CONFIG_FILE", dir_.file("advanced.config")},
  };
  script_process_ = std::make_unique<ChildProcess>();
  if (!script_process_->start({script_}, run_dir, env))
    throw std::runtime_error("cannot start " + script_);
  // The script starts `erl`, which execs beam.smp: that child is the broker.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (beam_pid_ <= 0 && std::chrono::steady_clock::now() < deadline) {
    beam_pid_ = childNamed(script_process_->pid(), "beam.smp");
    if (beam_pid_ <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (beam_pid_ <= 0) {
    throw std::runtime_error("rabbitmq-server started no Erlang VM: " + script_process_->out() +
                             script_process_->err());
  }
  if (!waitForPort(port_, std::chrono::seconds(180)) ||
      (tls_port_ != 0 && !waitForPort(tls_port_, std::chrono::seconds(30)))) {
    throw std::runtime_error("RabbitMQ did not accept AMQP on 127.0.0.1:" + std::to_string(port_) +
                             " within 180 s. Its log:\n" + log());
  }
}

void RabbitMqServer::waitForExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive(beam_pid_) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (alive(beam_pid_)) ::kill(beam_pid_, SIGKILL);
  // The script waits for its child and exits; reap it.
  if (script_process_ && !script_process_->wait(std::chrono::seconds(20)))
    script_process_->stop(std::chrono::seconds(1));
  beam_pid_ = -1;
}

void RabbitMqServer::stop() {
  if (beam_pid_ <= 0) return;
  ::kill(beam_pid_, SIGTERM);
  waitForExit(std::chrono::seconds(60));
}

void RabbitMqServer::kill() {
  if (beam_pid_ <= 0) return;
  ::kill(beam_pid_, SIGKILL);
  waitForExit(std::chrono::seconds(10));
}

std::string RabbitMqServer::log() const {
  std::string text = readFile(dir_.file("log/" + node_name_ + ".log"));
  if (script_process_) text += script_process_->out() + script_process_->err();
  return text.size() > 8000 ? text.substr(text.size() - 8000) : text;
}

}  // namespace busway::testing
