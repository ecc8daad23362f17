#pragma once

// A few threads of the endpoint's own (started when work comes, at most `threads`) that run
// blocking work (a database transaction, an SMTP dialogue) so that a send does not hold one of the
// bus's worker threads: send() defers the Sending and posts the work here. Bounded: post() refuses
// when `capacity` tasks are waiting, and the send then fails as `rejected` (back-pressure,
// retried). The destructor lets running tasks finish, tells the waiting ones they will not run
// (task(false): fail the send as transient) and joins the threads.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace busway::plugin_support {

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

  // False when the queue is full or the pool is stopping; the task was not taken.
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

}  // namespace busway::plugin_support
