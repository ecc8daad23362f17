#include "transform_steps.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace busway {
namespace fs = std::filesystem;

namespace {
constexpr std::array<const char*, 7> kTransformSteps = {"xslt",     "map",     "jq",       "lua",
                                                        "validate", "marshal", "unmarshal"};
}  // namespace

bool isTransformStep(const std::string& kind) {
  for (const char* name : kTransformSteps) {
    if (kind == name) return true;
  }
  return false;
}

std::shared_ptr<const Transformer> compileTransformStep(const StepDef& step,
                                                        TransformBuild& build) {
  const std::string& k = step.kind;
  if (k == "xslt") return compileXsltStep(step, build);
  if (k == "map") return compileMapStep(step, build);
  if (k == "jq") return compileJqStep(step, build);
  if (k == "lua") return compileLuaStep(step, build);
  if (k == "validate") return compileValidateStep(step, build);
  if (k == "marshal" || k == "unmarshal") return compileFormatStep(step, build);
  build.diagnostics.error(step.where, "internal: no compiler for <" + k + ">");
  return nullptr;
}

namespace transform {

std::string resolvePath(const StepDef& step, const std::string& path) {
  const fs::path given(path);
  if (given.is_absolute()) return given.lexically_normal().string();
  const fs::path table_dir = fs::path(step.where.file).parent_path();
  return (table_dir / given).lexically_normal().string();
}

std::optional<std::string> readFile(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

SourceLocation textLine(const StepDef& step, int line) {
  SourceLocation where = step.text_where;
  if (line > 1) {
    where.line += line - 1;
    where.column = 1;
  }
  return where;
}

}  // namespace transform
}  // namespace busway
