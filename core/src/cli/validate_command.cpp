#include <iostream>

#include "busway/config/graph.hpp"
#include "busway/config/table_loader.hpp"
#include "busway/router/route_compiler.hpp"
#include "busway/runtime/bus_context.hpp"
#include "cli.hpp"

namespace busway::cli {

int validateCommand(Args& args) {
  if (args.flag("help")) {
    std::string help = R"(usage: busway validate [--quiet] [--as-one] TABLE...

Loads and compiles each routing table (with its includes) exactly as 'busway run' would,
without starting anything, and prints every problem as FILE:LINE:COL: error: message.

  --as-one  the files are parts of one table, as in 'busway run A.xml B.xml'
            (without it, each file is checked as a table of its own)
  --quiet   print only the errors, not the per-file summary
)"
                       "%PLUGINS%"
                       R"(
Endpoint URIs of plugins are checked against the plugins' manifests; no plugin is loaded.

Exit codes: 0 all tables valid, 1 some table invalid, 2 usage error.
)";
    help.replace(help.find("%PLUGINS%"), 9, pluginOptionsHelp());
    std::cout << help;
    return kOk;
  }
  PluginOptions plugin_options;
  const bool plugin_options_ok = plugin_options.parse(args);
  const bool quiet = args.flag("quiet");
  const bool as_one = args.flag("as-one");
  const auto files = args.positional();
  if (!args.error().empty() || files.empty() || !plugin_options_ok) {
    std::cerr << "busway validate: "
              << (!plugin_options.error.empty() ? plugin_options.error
                  : args.error().empty()        ? std::string("name at least one routing table")
                                                : args.error())
              << "\nusage: busway validate [--quiet] TABLE...\n";
    return kUsage;
  }
  BusContext context(1);
  std::string plugin_error;
  auto plugins = makePluginHost(context, plugin_options, PluginHost::Mode::validate, plugin_error);
  if (!plugins) {
    std::cerr << "busway validate: " << plugin_error << "\n";
    return kUsage;
  }
  int status = kOk;
  // Each entry is one table: a single file, or (--as-one) all of them.
  std::vector<std::vector<std::string>> tables;
  if (as_one)
    tables.push_back(files);
  else
    for (const auto& f : files) tables.push_back({f});
  for (const auto& parts : tables) {
    Diagnostics diagnostics;
    TableDefinition table;
    for (const auto& part : parts) mergeInto(table, loadTable(part, diagnostics));
    std::string file = parts.front();
    for (std::size_t i = 1; i < parts.size(); ++i) file += " + " + parts[i];
    const auto compiled = compileTable(table, context, diagnostics);
    diagnostics.print(std::cerr);
    if (diagnostics.hasErrors()) {
      status = kFailed;
      if (!quiet) {
        std::cout << file << ": invalid, " << diagnostics.errorCount()
                  << (diagnostics.errorCount() == 1 ? " error" : " errors") << "\n";
      }
    } else if (!quiet) {
      std::cout << file << ": valid (" << table.routes.size()
                << (table.routes.size() == 1 ? " route, " : " routes, ") << table.endpoints.size()
                << (table.endpoints.size() == 1 ? " endpoint" : " endpoints");
      if (table.files.size() > parts.size())
        std::cout << ", " << table.files.size() - parts.size() << " included file(s)";
      std::cout << ")\n";
    }
  }
  return status;
}

int graphCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << R"(usage: busway graph [--mermaid] TABLE...

Draws the routes of the table: endpoints as ellipses shared between routes, steps as boxes.
Prints Graphviz DOT (render with: busway graph routes.xml | dot -Tsvg > routes.svg) or, with
--mermaid, a Mermaid flowchart (paste into Markdown).

Exit codes: 0 drawn, 1 the table has errors (printed, nothing drawn), 2 usage error.
)";
    return kOk;
  }
  const bool mermaid = args.flag("mermaid");
  const auto files = args.positional();
  if (!args.error().empty() || files.empty()) {
    std::cerr << "busway graph: " << (args.error().empty() ? "name a routing table" : args.error())
              << "\nusage: busway graph [--mermaid] TABLE...\n";
    return kUsage;
  }
  Diagnostics diagnostics;
  TableDefinition merged;
  for (const auto& file : files) mergeInto(merged, loadTable(file, diagnostics));
  if (diagnostics.hasErrors()) {
    diagnostics.print(std::cerr);
    return kFailed;
  }
  std::cout << renderGraph(merged, mermaid ? GraphFormat::mermaid : GraphFormat::dot);
  return kOk;
}

}  // namespace busway::cli
