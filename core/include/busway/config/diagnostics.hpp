#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace busway {

// A place in a routing table file. line and column start at 1; 0 means unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;

  std::string toString() const;  // FILE:LINE:COL
};

struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  SourceLocation where;
  std::string message;

  std::string toString() const;  // FILE:LINE:COL: error: message
};

// Collects every problem found while loading a table, so one run shows them all.
class Diagnostics {
 public:
  void error(SourceLocation where, std::string message);
  void warning(SourceLocation where, std::string message);

  bool hasErrors() const noexcept { return errors_ > 0; }
  std::size_t errorCount() const noexcept { return errors_; }
  const std::vector<Diagnostic>& all() const noexcept { return items_; }
  // Sorted by file, line, column.
  void print(std::ostream& out) const;
  std::string toString() const;

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
};

}  // namespace busway
