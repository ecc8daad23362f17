// `busway dlq list|show|replay|purge`: the dead letters of a running or stopped bus.
#include <ctime>
#include <iomanip>
#include <iostream>

#include "busway/store/dead_letters.hpp"
#include "busway/store/message_codec.hpp"
#include "busway/util/text.hpp"
#include "cli.hpp"

namespace busway::cli {
namespace {

constexpr const char* kDlqHelp = R"(usage: busway dlq list [--queue NAME]
       busway dlq show ID
       busway dlq replay ID... | --all [--queue NAME]
       busway dlq purge ID... | --all [--queue NAME]

The dead letters a bus stored through dlq:NAME endpoints, in DATA_DIR/state.db. Safe on a
running bus (SQLite locking) and on a stopped one's data directory.

  list     one line per dead letter: id, queue, state, time, route, kind, attempts, reason
  show     the dead letter's failure details, headers and body
  replay   marks dead letters for replay: a route reading dlq:NAME receives them (on a
           running bus within its poll interval, else at the next start); handled ones are
           deleted, ones that fail again are stored again with the new reason
  purge    deletes dead letters for good

  --data-dir DIR   the bus's data directory (default $BUSWAY_DATA_DIR, else
                   $XDG_STATE_HOME/busway, else ~/.local/state/busway)
  --queue NAME     only the dead letters of dlq:NAME
  --all            every dead letter (of --queue NAME, when given)

Exit codes: 0 success, 1 no such dead letter or the store cannot be read, 2 usage error.
)";

std::string timeText(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

int dlqCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kDlqHelp;
    return kOk;
  }
  std::string dir_text, queue;
  args.option("data-dir", dir_text);
  args.option("queue", queue);
  const bool all = args.flag("all");
  auto rest = args.positional();
  const auto usage = [](const std::string& message) {
    std::cerr << "busway dlq: " << message
              << "\nusage: busway dlq list|show|replay|purge ...  (busway dlq --help)\n";
    return kUsage;
  };
  if (!args.error().empty()) return usage(args.error());
  if (rest.empty()) return usage("say list, show, replay or purge");
  const std::string sub = rest[0];
  rest.erase(rest.begin());
  std::vector<std::int64_t> ids;
  for (const auto& r : rest) {
    const auto id = parseInteger(r);
    if (!id || *id < 1) return usage("'" + r + "' is not a dead-letter id (see busway dlq list)");
    ids.push_back(*id);
  }
  if (sub == "list" && !ids.empty()) return usage("list takes no ids");
  if (sub == "show" && ids.size() != 1) return usage("show takes one id");
  if ((sub == "replay" || sub == "purge") && ids.empty() && !all)
    return usage(sub + " needs ids or --all");
  if ((sub == "replay" || sub == "purge") && !ids.empty() && all)
    return usage("give ids or --all, not both");
  if (sub != "list" && sub != "show" && sub != "replay" && sub != "purge")
    return usage("unknown subcommand '" + sub + "'");

  const std::filesystem::path dir =
      dir_text.empty() ? defaultDataDir() : std::filesystem::path(dir_text);
  auto store = store::DeadLetterStore::open(dir / "state.db", false);
  if (!store) {
    std::cerr << "busway dlq: " << store.error().message << "\n";
    return sub == "list" ? kOk : kFailed;
  }
  if (sub == "list") {
    auto letters = (*store)->list(queue);
    if (!letters) {
      std::cerr << "busway dlq: " << letters.error().message << "\n";
      return kFailed;
    }
    for (const auto& d : *letters) {
      std::cout << d.id << "  " << d.queue << "  " << d.state << "  " << timeText(d.at_ms)
                << "  route=" << d.route << "  kind=" << d.kind << "  attempts=" << d.attempts
                << "  " << d.reason << "\n";
    }
    std::cout << letters->size() << " dead letter(s)\n";
    return kOk;
  }
  if (sub == "show") {
    auto letter = (*store)->get(ids[0]);
    if (!letter) {
      std::cerr << "busway dlq: " << letter.error().message << "\n";
      return kFailed;
    }
    if (!*letter) {
      std::cerr << "busway dlq: no dead letter " << ids[0] << " (see busway dlq list)\n";
      return kFailed;
    }
    const auto& d = **letter;
    std::cout << "id: " << d.id << "\nqueue: " << d.queue << "\nstate: " << d.state
              << "\nat: " << timeText(d.at_ms) << "\nmessage: " << d.message_id
              << "\nroute: " << d.route << "\nkind: " << d.kind << "\nattempts: " << d.attempts
              << "\nreason: " << d.reason << "\n";
    auto message = store::decodeMessage(d.payload);
    if (!message) {
      std::cout << "(the stored message cannot be read: " << message.error().message << ")\n";
      return kFailed;
    }
    std::cout << "headers:\n";
    for (const auto& [name, value] : message->headers())
      std::cout << "  " << name << ": " << toText(value) << "\n";
    std::cout << "media-type: " << message->body().mediaType() << "\nbody ("
              << message->body().size() << " bytes):\n"
              << message->bodyText() << "\n";
    return kOk;
  }
  auto changed = sub == "replay" ? (*store)->markReplay(ids, queue) : (*store)->purge(ids, queue);
  if (!changed) {
    std::cerr << "busway dlq: " << changed.error().message << "\n";
    return kFailed;
  }
  std::cout << *changed << " dead letter(s) " << (sub == "replay" ? "marked for replay" : "purged")
            << "\n";
  return !ids.empty() && static_cast<std::size_t>(*changed) < ids.size() ? kFailed : kOk;
}

}  // namespace busway::cli
