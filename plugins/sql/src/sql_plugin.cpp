// sql: SQLite and PostgreSQL through POCO Data.
//
//   <to uri="sql:shop?driver=postgresql&amp;database=...&amp;query=UPDATE stock SET ..."/>
//   <from uri="sql:shop.db?query=SELECT * FROM outbox WHERE done = 0&amp;on-consume=UPDATE ..."/>
//
// Producer: the statements of 'query' run in one transaction with :header.NAME and
// :body.PATH bound as parameters (never pasted into the text); the rows of a SELECT become
// the body as a JSON array. A JSON array body runs them once per element, still in one
// transaction. Consumer: polls 'query', delivers each row as a JSON object and runs
// 'on-consume' for a row only once the bus has acknowledged it (at-least-once).
// PostgreSQL LISTEN/NOTIFY (which POCO does not offer) goes through libpq directly.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <poll.h>

#include <Poco/Data/MetaColumn.h>
#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/PostgreSQLException.h>
#include <Poco/Data/RecordSet.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/SQLiteException.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include "sql_text.hpp"
#include <busway/plugin.hpp>
#include <busway/sdk/worker_pool.hpp>

namespace busway::sqlplugin {
namespace {

namespace sdk = busway::sdk;
using json = nlohmann::json;
using busway::sql::CompiledStatement;
using busway::sql::Dialect;
using busway::sql::Parameter;

// ---------------------------------------------------------------------------------------
// Errors: what a database exception means for the route (retry or dead letter).

bool mentionsConnection(const std::string& text) {
  for (const char* word : {"connection", "server closed", "could not connect", "not connected",
                           "terminating", "no connection", "Connection"}) {
    if (text.find(word) != std::string::npos) return true;
  }
  return false;
}

// Rethrows the current exception as an sdk::Error saying where it happened. `broken` is
// set when the session should not go back to the pool (its connection is gone).
[[noreturn]] void rethrowClassified(const std::string& where, bool& broken) {
  try {
    throw;
  } catch (const sdk::Error&) {
    throw;
  } catch (const Poco::Data::SQLite::ConstraintViolationException& e) {
    throw sdk::Error(sdk::Status::permanent, where + ": constraint violated: " + e.displayText());
  } catch (const Poco::Data::SQLite::DBLockedException& e) {
    throw sdk::TransientError(where +
                              ": the database is locked (busy), will retry: " + e.displayText());
  } catch (const Poco::Data::SQLite::TableLockedException& e) {
    throw sdk::TransientError(where + ": a table is locked (busy), will retry: " + e.displayText());
  } catch (const Poco::Data::SQLite::CantOpenDBFileException& e) {
    broken = true;
    throw sdk::TransientError(
        where +
        ": cannot open the database file (check the path and its permissions): " + e.displayText());
  } catch (const Poco::Data::SQLite::IOErrorException& e) {
    broken = true;
    throw sdk::TransientError(where + ": I/O error: " + e.displayText());
  } catch (const Poco::Data::SQLite::DatabaseFullException& e) {
    throw sdk::TransientError(where + ": the database or disk is full: " + e.displayText());
  } catch (const Poco::Data::SQLite::SQLiteException& e) {
    throw sdk::Error(sdk::Status::permanent, where + ": " + e.displayText());
  } catch (const Poco::Data::PostgreSQL::ConnectionException& e) {
    broken = true;
    throw sdk::TransientError(where +
                              ": lost the PostgreSQL connection, will retry: " + e.displayText());
  } catch (const Poco::Data::PostgreSQL::PostgreSQLException& e) {
    const std::string text = e.displayText();
    const std::string state = busway::sql::sqlState(text);
    const std::string cls = state.substr(0, 2);
    // 08 connection, 40 serialization/deadlock, 53 resources, 57 operator intervention
    // (shutdown), 58 system error, 55P03 lock not available: worth retrying.
    if (cls == "08" || cls == "57" || cls == "58" || (state.empty() && mentionsConnection(text))) {
      broken = true;
      throw sdk::TransientError(where + ": lost the PostgreSQL connection, will retry: " + text);
    }
    if (cls == "40" || cls == "53" || state == "55P03") {
      throw sdk::TransientError(where + ": PostgreSQL asks to retry: " + text);
    }
    if (cls == "23")
      throw sdk::Error(sdk::Status::permanent, where + ": constraint violated: " + text);
    throw sdk::Error(sdk::Status::permanent, where + ": " + text);
  } catch (const Poco::Data::ConnectionFailedException& e) {
    broken = true;
    throw sdk::TransientError(where +
                              ": cannot connect to the database, will retry: " + e.displayText());
  } catch (const Poco::Data::NotConnectedException& e) {
    broken = true;
    throw sdk::TransientError(where +
                              ": not connected to the database, will retry: " + e.displayText());
  } catch (const Poco::Data::SessionPoolExhaustedException& e) {
    throw sdk::RejectedError(
        where + ": no free database session (raise pool-size or pool-wait): " + e.displayText());
  } catch (const Poco::Exception& e) {
    const std::string text = e.displayText();
    if (mentionsConnection(text)) {
      broken = true;
      throw sdk::TransientError(where + ": " + text);
    }
    throw sdk::Error(sdk::Status::permanent, where + ": " + text);
  }
}

// ---------------------------------------------------------------------------------------
// Datasources: one session pool per (driver, connection), shared by the endpoints that name it.

class Datasource {
 public:
  Datasource(std::string name, Dialect dialect, std::string connection, int pool_size,
             std::chrono::milliseconds wait)
      : name_(std::move(name)),
        dialect_(dialect),
        connection_(std::move(connection)),
        wait_(wait),
        pool_(dialect == Dialect::sqlite ? Poco::Data::SQLite::Connector::KEY
                                         : Poco::Data::PostgreSQL::Connector::KEY,
              connection_, 1, pool_size, 60) {}

  const std::string& name() const noexcept { return name_; }
  Dialect dialect() const noexcept { return dialect_; }
  const std::string& connection() const noexcept { return connection_; }

  // A session from the pool, waiting up to pool-wait for a free one.
  Poco::Data::Session session(const std::string& where) {
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    bool broken = false;
    for (;;) {
      try {
        Poco::Data::Session session = pool_.get();
        if (dialect_ == Dialect::sqlite) session.setConnectionTimeout(5);  // busy timeout, seconds
        return session;
      } catch (const Poco::Data::SessionPoolExhaustedException&) {
        if (std::chrono::steady_clock::now() >= deadline) {
          throw sdk::RejectedError(where + ": no free database session after " +
                                   std::to_string(wait_.count()) +
                                   "ms (raise pool-size or pool-wait)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } catch (...) {
        rethrowClassified(where, broken);
      }
    }
  }

 private:
  std::string name_;
  Dialect dialect_;
  std::string connection_;
  std::chrono::milliseconds wait_;
  Poco::Data::SessionPool pool_;
};

// ---------------------------------------------------------------------------------------
// Values bound to parameters.

using Value = std::variant<std::monostate, std::string, std::int64_t, double, bool>;

// Where parameters come from: a message's headers and body, or a polled row.
struct Input {
  std::function<std::optional<std::string>(const std::string&)> header;
  const json* body = nullptr;  // the JSON body (or one element of a batch); null: not JSON
  std::string raw_body;        // the body as text, for :body
  std::string body_error;      // why the body is not JSON
};

Value fromJson(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return std::monostate{};
    case json::value_t::boolean: return value.get<bool>();
    case json::value_t::number_integer: return value.get<std::int64_t>();
    case json::value_t::number_unsigned: {
      const auto n = value.get<std::uint64_t>();
      if (n > static_cast<std::uint64_t>(INT64_MAX)) return std::to_string(n);
      return static_cast<std::int64_t>(n);
    }
    case json::value_t::number_float: return value.get<double>();
    case json::value_t::string: return value.get<std::string>();
    default: return value.dump();  // objects and arrays as JSON text (json/jsonb columns)
  }
}

Value resolve(const Parameter& parameter, const Input& input, const std::string& where) {
  if (parameter.source == Parameter::Source::header) {
    auto value = input.header ? input.header(parameter.name) : std::nullopt;
    if (!value) {
      throw sdk::InvalidError(where + ": parameter " + parameter.text() +
                              ": the message has no header '" + parameter.name + "'");
    }
    return std::move(*value);
  }
  if (parameter.name.empty()) {
    if (input.body != nullptr && !input.body->is_string()) return input.body->dump();
    if (input.body != nullptr) return input.body->get<std::string>();
    return input.raw_body;
  }
  if (input.body == nullptr) {
    throw sdk::InvalidError(where + ": parameter " + parameter.text() +
                            " needs a JSON body: " + input.body_error);
  }
  const json* node = input.body;
  for (const auto& part : busway::sql::splitPath(parameter.name)) {
    const json* next = nullptr;
    if (node->is_object()) {
      const auto it = node->find(part);
      if (it != node->end()) next = &*it;
    } else if (node->is_array() && !part.empty() &&
               part.find_first_not_of("0123456789") == std::string::npos) {
      const auto index = std::stoull(part);
      if (index < node->size()) next = &(*node)[index];
    }
    if (next == nullptr) {
      throw sdk::InvalidError(where + ": parameter " + parameter.text() +
                              ": the JSON body has no '" + parameter.name + "' (missing at '" +
                              part + "'); send null explicitly for SQL NULL");
    }
    node = next;
  }
  return fromJson(*node);
}

void bindValue(Poco::Data::Statement& statement, Value value) {
  using Poco::Data::Keywords::bind;
  std::visit(
      [&statement](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          statement.addBind(bind(Poco::Data::Keywords::null));
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          statement.addBind(bind(static_cast<Poco::Int64>(v)));
        } else {
          statement.addBind(bind(v));
        }
      },
      std::move(value));
}

json cellToJson(const Poco::Data::RecordSet& rows, std::size_t column, std::size_t row) {
  if (rows.isNull(column, row)) return nullptr;
  const Poco::Dynamic::Var value = rows.value(column, row);
  if (value.isEmpty()) return nullptr;
  using Type = Poco::Data::MetaColumn::ColumnDataType;
  try {
    switch (rows.columnType(column)) {
      case Type::FDT_BOOL: return value.convert<bool>();
      case Type::FDT_INT8:
      case Type::FDT_INT16:
      case Type::FDT_INT32:
      case Type::FDT_INT64:
      case Type::FDT_UINT8:
      case Type::FDT_UINT16:
      case Type::FDT_UINT32: return value.convert<Poco::Int64>();
      case Type::FDT_UINT64: return value.convert<Poco::UInt64>();
      case Type::FDT_FLOAT:
      case Type::FDT_DOUBLE: return value.convert<double>();
      default: break;
    }
  } catch (const Poco::Exception&) {  // e.g. text stored in an INTEGER column of SQLite
  }
  try {
    return value.convert<std::string>();
  } catch (const Poco::Exception&) {
    return nullptr;
  }
}

json rowToJson(const Poco::Data::RecordSet& rows, std::size_t row) {
  json object = json::object();
  for (std::size_t column = 0; column < rows.columnCount(); ++column) {
    object[rows.columnName(column)] = cellToJson(rows, column, row);
  }
  return object;
}

std::string shorten(const std::string& text) {
  return text.size() <= 120 ? text : text.substr(0, 117) + "...";
}

// ---------------------------------------------------------------------------------------
// Running statements in one transaction.

struct Outcome {
  std::int64_t rows = 0;       // affected or returned, summed over statements
  std::optional<json> result;  // rows of the last row-returning statement
};

class Transaction {
 public:
  Transaction(Poco::Data::Session& session, Dialect dialect)
      : session_(session), dialect_(dialect) {
    if (dialect_ == Dialect::sqlite) {
      // IMMEDIATE takes the write lock at once, so two writers wait (busy timeout)
      // instead of failing on the upgrade from a read lock. POCO does not know about a
      // transaction begun this way, so it is ended the same way (COMMIT/ROLLBACK below).
      session_ << "BEGIN IMMEDIATE", Poco::Data::Keywords::now;
    } else {
      session_.begin();
    }
  }
  ~Transaction() {
    if (done_) return;
    try {
      if (!session_.isConnected()) return;
      if (dialect_ == Dialect::sqlite) {
        session_ << "ROLLBACK", Poco::Data::Keywords::now;
      } else if (session_.isTransaction()) {
        session_.rollback();
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): the session is dropped below if it is broken
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    if (dialect_ == Dialect::sqlite) {
      session_ << "COMMIT", Poco::Data::Keywords::now;
    } else {
      session_.commit();
    }
    done_ = true;
  }

 private:
  Poco::Data::Session& session_;
  Dialect dialect_;
  bool done_ = false;
};

// Runs `statements` once for each of `inputs`, all in one transaction.
Outcome runAll(Datasource& datasource, const std::vector<CompiledStatement>& statements,
               const std::vector<Input>& inputs, std::int64_t expect_rows,
               const std::string& where) {
  Outcome outcome;
  Poco::Data::Session session = datasource.session(where);
  bool broken = false;
  std::string current = where;
  try {
    Transaction transaction(session, datasource.dialect());
    std::size_t result_index = 0;
    for (std::size_t element = 0; element < inputs.size(); ++element) {
      for (std::size_t i = 0; i < statements.size(); ++i) {
        const CompiledStatement& compiled = statements[i];
        current = where + ": statement " + std::to_string(i + 1) + " '" + shorten(compiled.text) +
                  "'" +
                  (inputs.size() > 1 ? " (batch element " + std::to_string(element) + ")" : "");
        Poco::Data::Statement statement(session);
        statement << compiled.text;
        for (const Parameter& parameter : compiled.parameters) {
          bindValue(statement, resolve(parameter, inputs[element], current));
        }
        const std::size_t executed = statement.execute();
        std::int64_t rows = static_cast<std::int64_t>(executed);
        if (statement.extractionCount() > 0) {
          const Poco::Data::RecordSet records(statement);
          rows = static_cast<std::int64_t>(records.rowCount());
          json array = json::array();
          for (std::size_t r = 0; r < records.rowCount(); ++r)
            array.push_back(rowToJson(records, r));
          if (!outcome.result || i > result_index) {
            outcome.result = std::move(array);
            result_index = i;
          } else if (i == result_index) {
            for (auto& row : array) outcome.result->push_back(std::move(row));
          }
        }
        if (expect_rows >= 0 && rows != expect_rows) {
          throw sdk::Error(sdk::Status::permanent,
                           current + ": affected " + std::to_string(rows) + " row(s), expected " +
                               std::to_string(expect_rows) +
                               " (expect-rows); the transaction was rolled back");
        }
        outcome.rows += rows;
      }
    }
    current = where + ": commit";
    transaction.commit();
  } catch (...) {
    try {
      rethrowClassified(current, broken);
    } catch (...) {
      if (broken) {
        try {
          session.close();  // the pool drops a closed session instead of handing it out again
        } catch (...) {     // NOLINT(bugprone-empty-catch)
        }
      }
      throw;
    }
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------
// The consumer: polls a query, delivers rows, marks them done after the acknowledgement.

struct Poller {
  sdk::Route route;
  sdk::Host host;
  std::shared_ptr<Datasource> datasource;
  std::string where;
  std::vector<CompiledStatement> query;
  std::vector<CompiledStatement> on_consume;
  std::chrono::milliseconds interval{};
  std::string listen_channel;

  std::mutex poll_mutex;              // one poll at a time
  std::atomic<bool> again{false};     // a poll was asked for while one ran
  std::mutex mutex;                   // guards the two sets
  std::set<std::string> in_flight;    // delivered, not yet acknowledged (row as JSON text)
  std::set<std::string> done_recent;  // acknowledged since the current poll began
  std::atomic<bool> stopping{false};
  std::thread listener;
  bool warned_poll = false;
};

void markDone(const std::shared_ptr<Poller>& poller, const json& row) {
  if (poller->on_consume.empty()) return;
  Input input;
  input.body = &row;
  input.raw_body = row.dump();
  runAll(*poller->datasource, poller->on_consume, {input}, -1, poller->where + " on-consume");
}

void pollRows(const std::shared_ptr<Poller>& poller) {
  {
    const std::lock_guard<std::mutex> lock(poller->mutex);
    poller->done_recent.clear();
  }
  const Outcome outcome =
      runAll(*poller->datasource, poller->query, {Input{}}, -1, poller->where + " poll");
  if (!outcome.result) return;
  for (const json& row : *outcome.result) {
    if (!poller->route.active()) return;
    std::string key = row.dump();
    {
      const std::lock_guard<std::mutex> lock(poller->mutex);
      if (poller->in_flight.count(key) != 0 || poller->done_recent.count(key) != 0) continue;
      poller->in_flight.insert(key);
    }
    sdk::OwnedMessage message = poller->host.newMessage(key, "application/json");
    message.setHeader("sql.datasource", poller->datasource->name());
    const sdk::Status status = poller->route.deliver(
        std::move(message), [poller, row, key](const sdk::DeliveryResult& result) {
          bool marked = false;
          if (result.ok()) {
            try {
              markDone(poller, row);
              marked = true;
            } catch (const std::exception& e) {
              poller->host.warn(
                  poller->where,
                  ": could not mark a row done, it will be delivered again: ", e.what());
            }
          } else {
            poller->host.debug(
                poller->where,
                ": the bus did not take a row, it stays for the next poll: ", result.error);
          }
          const std::lock_guard<std::mutex> lock(poller->mutex);
          poller->in_flight.erase(key);
          if (marked) poller->done_recent.insert(key);
        });
    if (status != sdk::Status::ok) {  // refused at once (full or stopping): next poll
      const std::lock_guard<std::mutex> lock(poller->mutex);
      poller->in_flight.erase(key);
      return;
    }
  }
}

void pollOnce(const std::shared_ptr<Poller>& poller) {
  if (!poller->route.active()) return;
  std::unique_lock<std::mutex> lock(poller->poll_mutex, std::try_to_lock);
  if (!lock.owns_lock()) {
    poller->again = true;  // the running poll goes once more
    return;
  }
  do {
    poller->again = false;
    try {
      pollRows(poller);
      poller->warned_poll = false;
    } catch (const std::exception& e) {
      if (!poller->warned_poll) poller->host.warn(e.what(), " (polling goes on)");
      poller->warned_poll = true;
    }
  } while (poller->again.exchange(false) && poller->route.active());
}

void tick(const std::shared_ptr<Poller>& poller) {
  if (!poller->route.active()) return;  // stopped: end the timer chain
  pollOnce(poller);
  poller->host.schedule(poller->interval, [poller] { tick(poller); });
}

// LISTEN on its own libpq connection; each notification (and each reconnect, which may
// have missed some) asks for a poll at once.
void listenLoop(const std::shared_ptr<Poller>& poller) {
  PGconn* connection = nullptr;
  bool warned = false;
  const auto triggerPoll = [&poller] {
    poller->host.schedule(std::chrono::milliseconds(0), [poller] { pollOnce(poller); });
  };
  const auto pause = [&poller](std::chrono::milliseconds total) {
    for (auto waited = std::chrono::milliseconds(0); waited < total && !poller->stopping;
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  while (!poller->stopping) {
    if (connection == nullptr) {
      connection = PQconnectdb(poller->datasource->connection().c_str());
      if (PQstatus(connection) != CONNECTION_OK) {
        if (!warned) {
          poller->host.warn(poller->where, ": LISTEN connection failed, retrying every second: ",
                            PQerrorMessage(connection));
        }
        warned = true;
        PQfinish(connection);
        connection = nullptr;
        pause(std::chrono::seconds(1));
        continue;
      }
      char* identifier = PQescapeIdentifier(connection, poller->listen_channel.c_str(),
                                            poller->listen_channel.size());
      const std::string command =
          std::string("LISTEN ") + (identifier != nullptr ? identifier : "\"\"");
      PQfreemem(identifier);
      PGresult* result = PQexec(connection, command.c_str());
      const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
      PQclear(result);
      if (!ok) {
        poller->host.warn(poller->where, ": ", command, " failed: ", PQerrorMessage(connection));
        PQfinish(connection);
        connection = nullptr;
        pause(std::chrono::seconds(1));
        continue;
      }
      if (warned)
        poller->host.info(poller->where, ": listening on '", poller->listen_channel, "' again");
      warned = false;
      triggerPoll();
    }
    pollfd descriptor{PQsocket(connection), POLLIN, 0};
    const int ready = ::poll(&descriptor, 1, 200);
    if (ready <= 0) continue;
    if (PQconsumeInput(connection) == 0) {
      poller->host.warn(poller->where,
                        ": LISTEN connection lost, reconnecting: ", PQerrorMessage(connection));
      warned = true;
      PQfinish(connection);
      connection = nullptr;
      continue;
    }
    bool notified = false;
    while (PGnotify* notification = PQnotifies(connection)) {
      notified = true;
      PQfreemem(notification);
    }
    if (notified) triggerPoll();
  }
  if (connection != nullptr) PQfinish(connection);
}

// ---------------------------------------------------------------------------------------
// The plugin and its endpoint.

class SqlEndpoint;

class SqlPlugin : public sdk::Plugin {
 public:
  using Endpoints = sdk::List<SqlEndpoint>;

  SqlPlugin(sdk::Host host, const sdk::Options& config) : Plugin(host, config) {
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::PostgreSQL::Connector::registerConnector();
  }
  ~SqlPlugin() override {
    try {
      Poco::Data::SQLite::Connector::unregisterConnector();
      Poco::Data::PostgreSQL::Connector::unregisterConnector();
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to do at unload
    }
  }
  SqlPlugin(const SqlPlugin&) = delete;
  SqlPlugin& operator=(const SqlPlugin&) = delete;
  SqlPlugin(SqlPlugin&&) = delete;
  SqlPlugin& operator=(SqlPlugin&&) = delete;

  // The pool of a datasource, shared while any endpoint uses it.
  std::shared_ptr<Datasource> datasource(const std::string& name, Dialect dialect,
                                         const std::string& connection, int pool_size,
                                         std::chrono::milliseconds wait) {
    const std::lock_guard<std::mutex> lock(mutex_);
    const std::string key =
        std::string(dialect == Dialect::sqlite ? "sqlite" : "postgresql") + '\n' + connection;
    if (auto existing = datasources_[key].lock()) return existing;
    auto created = std::make_shared<Datasource>(name, dialect, connection, pool_size, wait);
    datasources_[key] = created;
    return created;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<Datasource>> datasources_;
};

class SqlEndpoint : public sdk::Endpoint {
 public:
  static constexpr std::string_view scheme = "sql";

  SqlEndpoint(SqlPlugin& plugin, const sdk::Options& options)
      : host_(plugin.host()),
        where_("sql:" + options.path()),
        expect_rows_(options.integer("expect-rows")),
        batch_(options.boolean("batch")),
        interval_(options.duration("poll")),
        listen_(options.text("listen", "")) {
    const std::string driver = options.text("driver");
    const Dialect dialect = driver == "postgresql" ? Dialect::postgresql : Dialect::sqlite;
    std::string connection = options.text("database", "");
    if (connection.empty()) {
      if (dialect == Dialect::postgresql) {
        throw sdk::InvalidError(
            where_ +
            ": driver=postgresql needs 'database', a libpq connection string such as "
            "'host=127.0.0.1 port=5432 dbname=shop user=bus password=${env:PGPASSWORD}'");
      }
      connection = options.path();
    } else if (dialect == Dialect::postgresql) {
      connection = busway::sql::withConnectTimeout(connection, options.duration("connect-timeout"));
    }
    if (connection.empty())
      throw sdk::InvalidError(where_ + ": give the SQLite file as the path (sql:/var/lib/shop.db)");
    if (!listen_.empty() && dialect != Dialect::postgresql) {
      throw sdk::InvalidError(where_ +
                              ": 'listen' needs driver=postgresql (SQLite has no LISTEN/NOTIFY)");
    }
    try {
      statements_ = busway::sql::compile(options.text("query"), dialect);
      const std::string on_consume = options.text("on-consume", "");
      if (!on_consume.empty()) on_consume_ = busway::sql::compile(on_consume, dialect);
    } catch (const busway::sql::SqlTextError& e) {
      throw sdk::InvalidError(where_ + ": " + e.what());
    }
    for (const auto& statement : statements_) {
      for (const auto& parameter : statement.parameters) {
        needs_json_ =
            needs_json_ || (parameter.source == Parameter::Source::body && !parameter.name.empty());
        binds_body_ = binds_body_ || parameter.source == Parameter::Source::body;
      }
    }
    const auto pool_size = options.integer("pool-size");
    if (pool_size < 1 || pool_size > 1000)
      throw sdk::InvalidError(where_ + ": pool-size must be 1..1000");
    workers_ = std::make_unique<busway::sdk::WorkerPool>(static_cast<std::size_t>(pool_size),
                                                         kQueueCapacity);
    datasource_ = plugin.datasource(options.path(), dialect, connection,
                                    static_cast<int>(pool_size), options.duration("pool-wait"));
  }

  ~SqlEndpoint() override { stopConsumer(); }
  SqlEndpoint(const SqlEndpoint&) = delete;
  SqlEndpoint& operator=(const SqlEndpoint&) = delete;
  SqlEndpoint(SqlEndpoint&&) = delete;
  SqlEndpoint& operator=(SqlEndpoint&&) = delete;

  // Runs on one of the endpoint's own threads (busway/sdk/worker_pool.hpp), never on the bus's.
  void send(sdk::Sending& sending) override {
    workers_->send(sending, where_, [this](sdk::Sending& later) { execute(later); });
  }

 private:
  static constexpr std::size_t kQueueCapacity = 10000;

  // The send itself, blocking; throws sdk::Error.
  void execute(sdk::Sending& sending) {
    const sdk::MessageRef message = sending.message();
    Input base;
    base.header = [&message](const std::string& name) -> std::optional<std::string> {
      const auto value = message.header(name);
      if (!value) return std::nullopt;
      return std::string(*value);
    };
    base.raw_body = std::string(message.body());
    std::optional<json> body;
    if (needs_json_ || (batch_ && binds_body_)) {
      try {
        body = json::parse(base.raw_body);
      } catch (const json::exception& e) {
        base.body_error = std::string("the body is not JSON (") + e.what() + ")";
        if (needs_json_) {
          throw sdk::InvalidError(where_ + ": the query binds :body.PATH parameters, but " +
                                  base.body_error);
        }
      }
    }
    std::vector<Input> inputs;
    if (body && batch_ && binds_body_ && body->is_array()) {
      inputs.reserve(body->size());
      for (const json& element : *body) {
        Input input = base;
        input.body = &element;
        input.raw_body = element.is_string() ? element.get<std::string>() : element.dump();
        inputs.push_back(std::move(input));
      }
    } else {
      if (body) base.body = &*body;
      inputs.push_back(std::move(base));
    }
    const Outcome outcome = runAll(*datasource_, statements_, inputs, expect_rows_, where_);
    message.setHeader("sql.row-count", outcome.rows);
    if (outcome.result) message.setBody(outcome.result->dump(), "application/json");
    host_.metric("statements", static_cast<std::int64_t>(statements_.size() * inputs.size()));
  }

 public:
  void startConsumer(sdk::Route route) override {
    for (const auto& statement : statements_) {
      if (!statement.parameters.empty()) {
        throw sdk::InvalidError(
            where_ +
            ": a consumer's query cannot have parameters (there is no message yet); "
            "use them in on-consume, where :body is the row");
      }
    }
    auto poller = std::make_shared<Poller>();
    poller->route = std::move(route);
    poller->host = host_;
    poller->datasource = datasource_;
    poller->where = where_;
    poller->query = statements_;
    poller->on_consume = on_consume_;
    poller->interval = interval_;
    poller->listen_channel = listen_;
    if (!listen_.empty()) poller->listener = std::thread([poller] { listenLoop(poller); });
    poller_ = poller;
    host_.schedule(std::chrono::milliseconds(0), [poller] { tick(poller); });
  }

  void stopConsumer() override {
    if (!poller_) return;
    poller_->stopping = true;
    if (poller_->listener.joinable()) poller_->listener.join();
    poller_.reset();
  }

 private:
  sdk::Host host_;
  std::string where_;
  std::int64_t expect_rows_;
  bool batch_;
  std::chrono::milliseconds interval_;
  std::string listen_;
  std::vector<CompiledStatement> statements_;
  std::vector<CompiledStatement> on_consume_;
  bool needs_json_ = false;  // some parameter is :body.PATH
  bool binds_body_ = false;  // some parameter is :body or :body.PATH (batch applies)
  std::shared_ptr<Datasource> datasource_;
  std::shared_ptr<Poller> poller_;
  std::unique_ptr<busway::sdk::WorkerPool> workers_;  // last: joined first
};

}  // namespace
}  // namespace busway::sqlplugin

BUSWAY_PLUGIN(busway::sqlplugin::SqlPlugin);
