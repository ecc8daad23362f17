// busway plugins new NAME [--dir DIR]: writes a vendor plugin project that builds against
// the installed SDK and passes its tests. The files come from sdk/template, embedded into
// this program when it is built (sdk/cmake/EmbedTemplate.cmake), so the template always
// matches the SDK installed next to it.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "busway/plugin.h"
#include "busway/version.hpp"
#include "cli.hpp"

namespace busway::cli {

// Generated from sdk/template (see the note above).
std::size_t pluginTemplateFileCount();
std::string_view pluginTemplatePath(std::size_t index);
std::string_view pluginTemplateContent(std::size_t index);

namespace {

namespace fs = std::filesystem;

constexpr const char* kHelp = R"(usage: busway plugins new NAME [--dir DIR]

Writes a new plugin project for the endpoint NAME:NAME... into DIR (default ./NAME): a
plugin.json manifest, one C++ source with a producer and a consumer, a test, and a
CMakeLists.txt that finds this busway's SDK with find_package(Busway) and builds NAME.so
with busway_add_plugin(). It builds and its tests pass as written; change it from there.

  NAME       the plugin id and URI scheme: lower-case letters, digits and '-', starting
             with a letter, at most 64 characters (e.g. acme-erp)
  --dir DIR  where to write it; DIR must not exist or be empty

Exit codes: 0 written, 1 DIR is not empty or a file could not be written, 2 usage error.
)";

constexpr std::size_t kMaxNameLength = 64;

// The manifest's id rule, narrowed so that the name is also a URI scheme and gives a C++
// identifier: [a-z][a-z0-9-]*, no trailing or doubled '-'.
std::string nameProblem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameLength) return "is longer than 64 characters";
  if (name.front() < 'a' || name.front() > 'z') return "must start with a lower-case letter";
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return std::string("contains '") + c + "'; use lower-case letters, digits and '-'";
    }
  }
  if (name.back() == '-') return "must not end with '-'";
  if (name.find("--") != std::string_view::npos) return "must not contain '--'";
  return {};
}

// "acme-erp" -> "AcmeErp" (class names), "acme_erp" (namespace), "Acme Erp" (titles).
std::string camelCase(std::string_view name) {
  std::string out;
  bool upper = true;
  for (const char c : name) {
    if (c == '-') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}
std::string snakeCase(std::string_view name) {
  std::string out(name);
  for (auto& c : out) {
    if (c == '-') c = '_';
  }
  return out;
}
std::string titleCase(std::string_view name) {
  std::string out;
  bool upper = true;
  for (const char c : name) {
    if (c == '-') {
      out += ' ';
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

using Values = std::vector<std::pair<std::string, std::string>>;

// Replaces @KEY@ for the keys in `values`; other text, '@' included, is kept as it is.
std::string fill(std::string_view text, const Values& values) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (text[i] == '@') {
      for (const auto& [key, value] : values) {
        const std::string placeholder = "@" + key + "@";
        if (text.compare(i, placeholder.size(), placeholder) == 0) {
          out += value;
          i += placeholder.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

// Quotes a path for the shell commands we print, when it needs it.
std::string shellWord(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789/._-+=:,") == std::string::npos;
  if (plain) return text;
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The prefix this busway is installed under (PREFIX/bin/busway), which is what a vendor
// puts on CMAKE_PREFIX_PATH. Empty when it cannot be told (a build tree).
std::string installPrefix() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.parent_path().filename() != "bin") return {};
  const fs::path prefix = exe.parent_path().parent_path();
  for (const char* libdir : {"lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"}) {
    if (fs::exists(prefix / libdir / "cmake" / "Busway" / "BuswayConfig.cmake", ec))
      return prefix.string();
  }
  return {};
}

int usage(const std::string& message) {
  std::cerr << "busway plugins new: " << message
            << "\nusage: busway plugins new NAME [--dir DIR]\n";
  return kUsage;
}

}  // namespace

int pluginsNewCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kHelp;
    return kOk;
  }
  std::string dir_text;
  const bool has_dir = args.option("dir", dir_text);
  const auto rest = args.positional();
  if (!args.error().empty()) return usage(args.error());
  if (rest.size() != 1)
    return usage(rest.empty() ? "name the plugin (e.g. acme-erp)" : "takes one NAME");
  const std::string& name = rest.front();
  if (const auto problem = nameProblem(name); !problem.empty()) {
    return usage("'" + name + "' is not a valid plugin name: it " + problem + " (e.g. acme-erp)");
  }
  if (has_dir && dir_text.empty()) return usage("--dir needs a folder");
  const fs::path dir = has_dir ? fs::path(dir_text) : fs::path(name);

  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) {
      std::cerr << "busway plugins new: " << dir.string()
                << " exists and is not a folder; choose another --dir\n";
      return kFailed;
    }
    if (!fs::is_empty(dir, ec) || ec) {
      std::cerr
          << "busway plugins new: " << dir.string()
          << " is not empty; nothing was written (choose another --dir, or remove it first)\n";
      return kFailed;
    }
  }

  const Values values = {
      {"PLUGIN_NAME", name},
      {"PLUGIN_ID", name},
      {"PLUGIN_CLASS", camelCase(name)},
      {"PLUGIN_NAMESPACE", snakeCase(name)},
      {"PLUGIN_TITLE", titleCase(name)},
      {"BUSWAY_VERSION", kVersion},
      {"BUSWAY_ABI_MAJOR", std::to_string(BW_ABI_MAJOR)},
      {"BUSWAY_ABI_MINOR", std::to_string(BW_ABI_MINOR)},
  };
  std::vector<std::string> written;
  for (std::size_t i = 0; i < pluginTemplateFileCount(); ++i) {
    const std::string relative = fill(pluginTemplatePath(i), values);
    const fs::path path = dir / relative;
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      std::cerr << "busway plugins new: cannot create " << path.parent_path().string() << ": "
                << ec.message() << "\n";
      return kFailed;
    }
    const std::string content = fill(pluginTemplateContent(i), values);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) {
      std::cerr << "busway plugins new: cannot write " << path.string() << "\n";
      return kFailed;
    }
    written.push_back(relative);
  }

  const std::string d = shellWord(dir.string());
  const std::string prefix = installPrefix();
  std::cout << "Created plugin '" << name << "' in " << dir.string() << ":\n";
  for (const auto& file : written) std::cout << "  " << file << "\n";
  std::cout << "\nNext steps:\n"
            << "  cmake -S " << d << " -B " << d << "/build -DCMAKE_PREFIX_PATH="
            << (prefix.empty() ? std::string("<the prefix busway is installed under>")
                               : shellWord(prefix))
            << "\n"
            << "  cmake --build " << d << "/build\n"
            << "  ctest --test-dir " << d << "/build --output-on-failure\n"
            << "\nThen make it yours: " << (dir / "README.md").string() << "\n";
  return kOk;
}

}  // namespace busway::cli
