#pragma once

// Blocking work off the bus's threads. Most systems a plugin talks to have a blocking client
// (a database driver, an SMTP dialogue, a legacy library): run it on a few threads of the
// endpoint's own so that send() never holds one of the bus's worker threads.
//
//   class OrdersEndpoint : public busway::sdk::Endpoint {
//     busway::sdk::WorkerPool workers_{4, 10000};  // at most 4 threads, 10000 waiting sends
//     void send(busway::sdk::Sending& sending) override {
//       workers_.send(sending, "acme-erp:orders", [this](busway::sdk::Sending& s) { post(s); });
//     }
//   };
//
// WorkerPool::send defers the Sending, runs the function on a pool thread and completes the
// send when it returns, or fails it with the status of the busway::sdk::Error it throws (any
// other exception: permanent). Bounded: with `capacity` sends waiting, a new one fails as
// `rejected` (back-pressure, retried by the route). Threads are started when work comes, at
// most `threads`. The destructor lets running work finish, fails the sends still waiting as
// transient (the route retries them) and joins the threads.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "busway/sdk/endpoint.hpp"
#include "busway/sdk/error.hpp"

namespace busway::sdk {

class WorkerPool {
 public:
  using Task = std::function<void(bool run)>;

  WorkerPool(std::size_t threads, std::size_t capacity)
      : max_threads_(threads), capacity_(capacity) {}
  ~WorkerPool() {
    std::deque<Task> dropped;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      dropped.swap(queue_);
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
    for (auto& task : dropped) task(false);
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  WorkerPool(WorkerPool&&) = delete;
  WorkerPool& operator=(WorkerPool&&) = delete;

  // Runs `execute(sending)` on a pool thread and completes or fails the send with its outcome
  // (see the top of this file). `where` names the endpoint in error messages.
  template <class Execute>
  void send(Sending& sending, std::string where, Execute execute) {
    auto later = std::make_shared<Sending>(sending.defer());
    const bool taken = post([later, where, execute = std::move(execute)](bool run) mutable {
      if (!run) {
        later->fail(Status::transient, where + ": the endpoint stopped before the send ran");
        return;
      }
      try {
        execute(*later);
        later->complete();
      } catch (const Error& e) {
        later->fail(e.status(), e.what());
      } catch (const std::exception& e) {
        later->fail(Status::permanent, e.what());
      }
    });
    if (!taken) {
      later->fail(Status::rejected,
                  where + ": " + std::to_string(capacity_) +
                      " sends are already waiting for this endpoint (back-pressure)");
    }
  }

  // False when the queue is full or the pool is stopping; the task was not taken. A task is
  // called once: with true on a pool thread, or with false when the pool stops first.
  bool post(Task task) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || queue_.size() >= capacity_) return false;
      queue_.push_back(std::move(task));
      if (idle_ < queue_.size() && threads_.size() < max_threads_)
        threads_.emplace_back([this] { loop(); });
    }
    wake_.notify_one();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        --idle_;
        if (queue_.empty()) return;  // stopping
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task(true);
    }
  }

  std::size_t max_threads_;
  std::size_t capacity_;
  std::size_t idle_ = 0;  // threads waiting for work
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace busway::sdk
