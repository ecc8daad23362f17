#include "busway/runtime/bus.hpp"

#include <algorithm>
#include <thread>

#include "busway/config/table_loader.hpp"
#include "busway/endpoint/component_registry.hpp"
#include "busway/util/log.hpp"

namespace busway {

Bus::~Bus() {
  if (!stopped_) stop(std::chrono::seconds(5));
}

bool Bus::load(const std::vector<std::string>& paths, Diagnostics& diagnostics) {
  TableDefinition merged;
  for (const auto& path : paths) mergeInto(merged, loadTable(path, diagnostics));
  // Compile even after load errors: one run reports everything.
  auto compiled = compileTable(merged, context_, diagnostics);
  if (diagnostics.hasErrors() || !compiled) return false;
  return activate(std::move(compiled), diagnostics);
}

bool Bus::activate(std::unique_ptr<CompiledTable> table, Diagnostics& diagnostics) {
  std::lock_guard lock(mutex_);
  std::vector<CompiledRoute*> started;
  // Routes fed by other routes (direct:, queue:) start first, so a source that fires at
  // once (a timer, a listener) never finds its downstream route missing.
  std::vector<CompiledRoute*> order;
  for (auto& route : table->routes) order.push_back(&route);
  std::stable_partition(order.begin(), order.end(), [](const CompiledRoute* r) {
    return r->from.rfind("direct:", 0) == 0 || r->from.rfind("queue:", 0) == 0;
  });
  for (auto* route_ptr : order) {
    CompiledRoute& route = *route_ptr;
    if (!route.unavailable.empty()) {
      logWarn("bus", "route '" + route.id + "' is unavailable: " + route.unavailable);
      continue;
    }
    if (!route.autostart || !route.consumer) continue;
    auto result = route.consumer->start();
    if (!result && result.error().kind == ErrorKind::unavailable) {
      // A plugin source that cannot start now (its peer is down, say): this route is
      // unavailable, the others run.
      route.unavailable = result.error().message;
      diagnostics.warning(route.where,
                          "route '" + route.id + "' is unavailable: " + route.unavailable);
      continue;
    }
    if (!result) {
      diagnostics.error(route.where,
                        "route '" + route.id + "' could not start: " + result.error().message);
      for (auto* r : started) r->consumer->stop();
      return false;
    }
    started.push_back(&route);
  }
  for (const auto& endpoint : table->endpoints) endpoint->activate();
  std::unique_ptr<CompiledTable> old = std::move(running_);
  running_ = std::move(table);
  ++generation_;
  if (old) {
    for (auto& route : old->routes) {
      if (route.consumer) route.consumer->stop();
    }
    // Held aggregates complete now rather than vanish with the old table.
    for (auto& route : old->routes) {
      if (route.route) route.route->flush();
    }
    // In-flight exchanges keep the old pipelines alive; keep the table until they finish
    // so its statistics stay readable, and drop drained tables as we go.
    retired_.push_back(std::move(old));
    std::erase_if(retired_, [](const std::unique_ptr<CompiledTable>& t) {
      for (const auto& r : t->routes) {
        if (r.route && r.route->stats().in_flight != 0) return false;
      }
      return true;
    });
  }
  std::size_t routes = running_->routes.size();
  logInfo("bus", "routing table generation " + std::to_string(generation_) +
                     " running: " + std::to_string(routes) + (routes == 1 ? " route" : " routes"));
  return true;
}

bool Bus::drain(std::vector<CompiledRoute>& routes, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool idle = true;
  for (auto& route : routes) {
    if (!route.route) continue;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!route.route->waitIdle(std::max(left, std::chrono::milliseconds(0)))) {
      idle = false;
      logWarn("bus", "route '" + route.id + "' still has " +
                         std::to_string(route.route->stats().in_flight) +
                         " message(s) in flight after the drain timeout");
    }
  }
  return idle;
}

bool Bus::stop(std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The running table stays (stopped) so its statistics can still be read.
  std::vector<CompiledTable*> tables;
  for (auto& t : retired_) tables.push_back(t.get());
  if (running_) tables.push_back(running_.get());
  const auto fedByRoutes = [](const CompiledRoute& r) {
    return r.from.rfind("direct:", 0) == 0 || r.from.rfind("queue:", 0) == 0;
  };
  // First the sources from outside (timers, listeners): no new work comes in. Routes fed
  // by other routes keep running until what was queued has been processed.
  for (auto* table : tables) {
    for (auto& route : table->routes) {
      if (route.consumer && !fedByRoutes(route)) route.consumer->stop();
    }
  }
  for (;;) {
    bool busy = context_.components().pendingMessages() > 0;
    for (auto* table : tables) {
      for (auto& route : table->routes)
        busy = busy || (route.route && route.route->stats().in_flight > 0);
    }
    if (!busy || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::size_t dropped = context_.components().pendingMessages();
  if (dropped > 0) {
    logError("bus", std::to_string(dropped) +
                        " message(s) still queued in memory at the drain deadline are dropped");
  }
  for (auto* table : tables) {
    for (auto& route : table->routes) {
      if (route.consumer) route.consumer->stop();
    }
  }
  for (auto* table : tables) {
    for (auto& route : table->routes) {
      if (route.route) route.route->flush();
    }
  }
  bool idle = true;
  const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now()),
                             std::chrono::milliseconds(100));
  for (auto* table : tables) idle = drain(table->routes, left) && idle;
  retired_.clear();
  stopped_ = true;
  return idle && dropped == 0;
}

std::vector<RouteStatus> Bus::status() const {
  std::lock_guard lock(mutex_);
  std::vector<RouteStatus> out;
  if (!running_) return out;
  for (const auto& route : running_->routes) {
    RouteStatus status{
        route.id, route.from, route.autostart && route.unavailable.empty(), {}, route.unavailable};
    if (route.route) status.stats = route.route->stats();
    out.push_back(std::move(status));
  }
  return out;
}

std::vector<std::string> Bus::files() const {
  std::lock_guard lock(mutex_);
  return running_ ? running_->files : std::vector<std::string>{};
}

std::uint64_t Bus::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

}  // namespace busway
