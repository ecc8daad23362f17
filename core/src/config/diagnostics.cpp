#include "busway/config/diagnostics.hpp"

#include <algorithm>
#include <sstream>
#include <tuple>

namespace busway {

std::string SourceLocation::toString() const {
  std::string out = file.empty() ? "<table>" : file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  return out;
}

std::string Diagnostic::toString() const {
  return where.toString() + (severity == Severity::error ? ": error: " : ": warning: ") + message;
}

void Diagnostics::error(SourceLocation where, std::string message) {
  items_.push_back(Diagnostic{Diagnostic::Severity::error, std::move(where), std::move(message)});
  ++errors_;
}

void Diagnostics::warning(SourceLocation where, std::string message) {
  items_.push_back(Diagnostic{Diagnostic::Severity::warning, std::move(where), std::move(message)});
}

void Diagnostics::print(std::ostream& out) const {
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    return std::tie(a->where.file, a->where.line, a->where.column) <
           std::tie(b->where.file, b->where.line, b->where.column);
  });
  for (const auto* d : sorted) out << d->toString() << '\n';
}

std::string Diagnostics::toString() const {
  std::ostringstream out;
  print(out);
  return out.str();
}

}  // namespace busway
