// `busway plugins SUBCOMMAND`: keys and signatures, and looking at plugin files.
//
// Nothing here loads a plugin: manifests are read from the ELF section (readManifest), so
// `inspect` and `list` are safe on files nobody has vetted yet.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "busway/plugin.h"
#include "busway/plugin/manifest.hpp"
#include "busway/plugin/plugin_host.hpp"
#include "busway/plugin/signature.hpp"
#include "cli.hpp"

namespace busway::cli {
namespace {

namespace fs = std::filesystem;

// A .sig file is about 130 bytes; reading more than this is pointless.
constexpr std::uintmax_t kMaxSignatureFileSize = 64 * 1024;

constexpr const char* kPluginsHelp = R"(usage: busway plugins SUBCOMMAND [OPTIONS] [ARGS]

Looks at plugin files, manages their signatures and checks them. Only `check` loads and
runs a plugin; the others read the manifest from the file, so inspecting an untrusted
file is safe.

subcommands:
  list [--path DIR]... [--trust DIR]   the plugins installed in the plugin folders
  inspect [--json] [--trust DIR] FILE  the manifest of a plugin file and its option docs
  keygen --out PREFIX                  a new Ed25519 signing key: PREFIX.key and PREFIX.pub
  sign --key PREFIX.key FILE...        sign plugin files (writes FILE.sig next to each)
  verify --trust DIR FILE...           check signatures against the public keys in DIR
  new NAME [--dir DIR]                 scaffold a vendor plugin project that builds and tests
  check [--option S.N=V]... FILE       the conformance kit: load FILE and check its behaviour

Run 'busway plugins SUBCOMMAND --help' for the options of a subcommand.
)";

constexpr const char* kListHelp = R"(usage: busway plugins list [--path DIR]... [--trust DIR]

Lists the plugins in the plugin folders without loading them: id, version, plugin ABI,
what each offers (endpoint schemes, formats, transformers) and its signature state. Files
that are not busway plugins are listed with the reason.

  --path DIR   a folder to look in (repeat for several). Default: the folders in the
               environment variable BUSWAY_PLUGIN_PATH (separated by ':'), else
               )" BUSWAY_DEFAULT_PLUGIN_DIR R"(
  --trust DIR  check signatures against the public keys (*.pub) in DIR; without it a
               signature is reported but not checked

Exit codes: 0 listed, 1 a folder given with --path does not exist, 2 usage error.
)";

constexpr const char* kInspectHelp = R"(usage: busway plugins inspect [--json] [--trust DIR] FILE

Prints the manifest embedded in a plugin file: id, name, version, vendor, license, status,
plugin ABI, and for each endpoint scheme, format and transformer its options (name, type,
default, required, doc). The file is read, never loaded or run, so this is safe on a file
you do not trust yet.

  --json       print the manifest as canonical JSON (schemas/plugin-manifest-1.schema.json)
  --trust DIR  also check FILE.sig against the public keys (*.pub) in DIR

Exit codes: 0 printed, 1 the file is not a valid busway plugin, 2 usage error.
)";

constexpr const char* kKeygenHelp = R"(usage: busway plugins keygen --out PREFIX

Makes a new Ed25519 signing key and prints its key id.
  PREFIX.key  the private key (PEM, mode 0600): keep it secret, sign with it
  PREFIX.pub  the public key (PEM): give it to integrators, who put it in their trust
              store folder so their bus accepts plugins you sign
Existing files are never overwritten.

Exit codes: 0 written, 1 could not write the keys, 2 usage error.
)";

constexpr const char* kSignHelp = R"(usage: busway plugins sign --key PREFIX.key FILE...

Signs each FILE (the whole file, byte for byte) and writes the signature next to it as
FILE.sig. Ship FILE.sig with FILE; any later change to FILE makes the signature invalid.

Exit codes: 0 signed, 1 a file or the key could not be read or written, 2 usage error.
)";

constexpr const char* kVerifyHelp = R"(usage: busway plugins verify --trust DIR FILE...

Checks each FILE against its FILE.sig and the public keys (*.pub) in the trust store
folder DIR, as the bus does before loading a plugin under a signature policy.

Exit codes: 0 every signature is valid, 1 some file is unsigned, changed after signing or
signed by a key not in DIR, 2 usage error.
)";

int usageError(const std::string& sub, const std::string& message) {
  std::cerr << "busway plugins " << sub << ": " << message << "\n(see busway plugins " << sub
            << " --help)\n";
  return kUsage;
}

// Text from a manifest goes to a terminal: a hostile file must not be able to send escape
// sequences (move the cursor, rewrite earlier lines, set the window title).
std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0x0f];
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> readWholeFile(const std::string& path, std::string& problem) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    problem = fs::exists(path, ec) ? "is not a regular file" : "no such file";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = "cannot be opened for reading (check its permissions)";
    return std::nullopt;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    problem = "could not be read to the end";
    return std::nullopt;
  }
  return bytes;
}

// Creates `path` with `mode`; refuses to replace an existing file (O_EXCL), so a key
// cannot be lost by running keygen twice.
bool writeNewFile(const std::string& path, const std::string& text, mode_t mode,
                  std::string& problem) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    problem = errno == EEXIST ? "already exists; choose another --out or move the old key away"
                              : std::string("cannot be created: ") + std::strerror(errno);
    return false;
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      problem = std::string("cannot be written: ") + std::strerror(errno);
      ::close(fd);
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    problem = std::string("cannot be written: ") + std::strerror(errno);
    return false;
  }
  return true;
}

// Replaces `path` atomically (temporary file + rename): a reader never sees half a .sig.
bool replaceFile(const std::string& path, const std::string& text, std::string& problem) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      problem = "cannot be written (check the folder's permissions)";
      std::error_code ec;
      fs::remove(temporary, ec);
      return false;
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    problem = "cannot be written: " + ec.message();
    fs::remove(temporary, ec);
    return false;
  }
  return true;
}

// The signature state of `file`: FILE.sig read and, when `trust` is given, checked.
struct SignatureState {
  bool present = false;  // FILE.sig exists
  SignatureCheck check;  // checked (trust given) or only parsed (key id)
  bool checked = false;
};

SignatureState signatureOf(const std::string& file, const std::string* bytes,
                           const TrustStore* trust) {
  SignatureState state;
  const std::string sig_path = file + ".sig";
  std::error_code ec;
  std::string text;
  if (fs::exists(sig_path, ec)) {
    state.present = true;
    const auto size = fs::file_size(sig_path, ec);
    std::ifstream in(sig_path, std::ios::binary);
    if (ec || !in || size > kMaxSignatureFileSize) {
      state.check.problem =
          sig_path + (size > kMaxSignatureFileSize ? " is too big to be a signature"
                                                   : " cannot be read (check its permissions)");
      return state;
    }
    text.assign(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    // An empty .sig is a broken signature, not a missing one.
    if (text.empty()) text = "(empty)";
  }
  // Without a trust store the .sig is only parsed, for its key id: an empty store reports
  // the key as unknown, which is what "not checked" needs.
  const TrustStore empty;
  const std::string no_bytes;
  state.check =
      (trust != nullptr ? *trust : empty).verify(bytes != nullptr ? *bytes : no_bytes, text);
  state.checked = trust != nullptr;
  return state;
}

std::string describeSignature(const SignatureState& s) {
  if (!s.present) return "unsigned";
  if (!s.check.signed_) return "signature file unusable: " + s.check.problem;
  if (!s.checked) return "signed by key " + s.check.key_id + ", not checked: pass --trust DIR";
  if (s.check.valid)
    return "valid signature by key " + s.check.key_id + " (" + s.check.signer + ")";
  return "INVALID: " + s.check.problem;
}

std::string abiText(std::uint32_t major, std::uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Whether this busway would load a plugin built for ABI major.minor (the host's rule: same
// major, plugin minor <= host minor), said so that people know what to do about it.
std::string abiVerdict(const PluginManifest& m) {
  const std::string host = abiText(BW_ABI_MAJOR, BW_ABI_MINOR);
  if (m.abi_major == BW_ABI_MAJOR && m.abi_minor <= BW_ABI_MINOR)
    return "compatible with this busway, ABI " + host;
  if (m.abi_major != BW_ABI_MAJOR) {
    return "NOT compatible with this busway, ABI " + host + ": get a build of the plugin for ABI " +
           std::to_string(BW_ABI_MAJOR) + ".x";
  }
  return "NOT compatible with this busway, ABI " + host + ": the plugin needs ABI " +
         abiText(m.abi_major, m.abi_minor) + " or newer; upgrade busway";
}

void printOptions(std::ostream& out, const std::vector<OptionSpec>& options,
                  const std::string& indent) {
  if (options.empty()) {
    out << indent << "(no options)\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"option", "type", "default", "required", "doc"}};
  for (const auto& o : options) {
    std::string type = toString(o.type);
    if (o.type == OptionSpec::Type::enumeration) {
      type += "(";
      for (std::size_t i = 0; i < o.choices.size(); ++i) type += (i > 0 ? "|" : "") + o.choices[i];
      type += ")";
    }
    rows.push_back({printable(o.name), printable(type), printable(o.default_value),
                    o.required ? "yes" : "no", printable(o.doc)});
  }
  std::vector<std::size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

void printManifest(std::ostream& out, const PluginManifest& m, const std::string& file,
                   const SignatureState& sig) {
  const auto field = [&out](const char* label, const std::string& value) {
    out << label << std::string(13 - std::strlen(label), ' ')
        << (value.empty() ? "-" : printable(value)) << "\n";
  };
  field("file:", file);
  field("id:", m.id);
  field("name:", m.name);
  field("version:", m.version);
  field("vendor:", m.vendor);
  field("license:", m.license);
  field("status:", m.status);
  out << "ABI:         " << abiText(m.abi_major, m.abi_minor) << " (" << abiVerdict(m) << ")\n";
  field("signature:", describeSignature(sig));
  if (!m.description.empty()) field("description:", m.description);

  const auto offers = [&out](const char* title, const std::vector<PluginManifest::Offer>& list,
                             bool endpoints) {
    if (list.empty()) return;
    out << "\n" << title << ":\n";
    for (const auto& o : list) {
      out << "  " << printable(o.name);
      if (endpoints) {
        out << " ("
            << (o.consumer && o.producer ? "consumer and producer: from and to"
                : o.consumer             ? "consumer only: from"
                                         : "producer only: to")
            << ")";
      }
      out << "\n";
      if (!o.doc.empty()) out << "    " << printable(o.doc) << "\n";
      printOptions(out, o.options, "    ");
    }
  };
  offers("endpoints", m.endpoints, true);
  offers("formats", m.formats, false);
  offers("transformers", m.transformers, false);
  if (!m.config.empty()) {
    out << "\nplugin configuration:\n";
    printOptions(out, m.config, "  ");
  }
}

std::optional<TrustStore> loadTrust(const std::string& sub, const std::string& dir) {
  auto store = TrustStore::loadFolder(dir);
  if (!store) {
    std::cerr << "busway plugins " << sub << ": " << store.error().message << "\n";
    return std::nullopt;
  }
  for (const auto& skipped : store->skipped())
    std::cerr << "warning: skipped key " << skipped << "\n";
  return std::move(store).value();
}

int inspectCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kInspectHelp;
    return kOk;
  }
  const bool json = args.flag("json");
  std::string trust_dir;
  const bool with_trust = args.option("trust", trust_dir);
  const auto files = args.positional();
  if (!args.error().empty()) return usageError("inspect", args.error());
  if (files.size() != 1) return usageError("inspect", "name exactly one plugin file");
  const std::string& file = files[0];

  auto manifest = readManifest(file);
  if (!manifest) {
    std::cerr << manifest.error().message << "\n";
    return kFailed;
  }
  if (json) {
    std::cout << manifest->toJson();
    return kOk;
  }
  std::optional<TrustStore> trust;
  std::optional<std::string> bytes;
  if (with_trust) {
    trust = loadTrust("inspect", trust_dir);
    if (!trust) return kFailed;
    std::string problem;
    bytes = readWholeFile(file, problem);
    if (!bytes) {
      std::cerr << file << ": " << problem << "\n";
      return kFailed;
    }
  }
  printManifest(std::cout, *manifest, file,
                signatureOf(file, bytes ? &*bytes : nullptr, trust ? &*trust : nullptr));
  return kOk;
}

bool isLibraryName(const fs::path& path) {
  const std::string name = path.filename().string();
  return path.extension() == ".so" || name.find(".so.") != std::string::npos;
}

std::string joined(const std::vector<PluginManifest::Offer>& offers) {
  std::string out;
  for (const auto& o : offers) out += (out.empty() ? "" : ", ") + printable(o.name);
  return out;
}

int listCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kListHelp;
    return kOk;
  }
  std::vector<std::string> folders;
  for (std::string dir; args.option("path", dir);) folders.push_back(dir);
  const bool explicit_path = !folders.empty();
  std::string trust_dir;
  const bool with_trust = args.option("trust", trust_dir);
  const auto rest = args.positional();
  if (!args.error().empty()) return usageError("list", args.error());
  if (!rest.empty())
    return usageError("list", "takes no file names; use --path DIR to choose folders");
  // The same search path the bus uses (BUSWAY_PLUGIN_PATH, else the install default).
  if (!explicit_path) folders = defaultPluginPath();

  std::optional<TrustStore> trust;
  if (with_trust) {
    trust = loadTrust("list", trust_dir);
    if (!trust) return kFailed;
  }

  int status = kOk;
  std::size_t plugin_count = 0;
  std::map<std::string, std::string> scheme_owner;  // scheme -> file, to warn about clashes
  for (const auto& folder : folders) {
    std::cout << folder << ":\n";
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) {
      std::cout << "  (no such folder)\n";
      if (explicit_path) {
        std::cerr << "busway plugins list: " << folder << ": no such folder\n";
        status = kFailed;
      }
      continue;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      if (isLibraryName(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) {
      std::cout << "  (cannot list the folder: " << ec.message() << ")\n";
      continue;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) std::cout << "  (no plugins)\n";
    for (const auto& path : files) {
      const std::string file = path.string();
      auto manifest = readManifest(file);
      if (!manifest) {
        std::cout << "  not a plugin: " << printable(manifest.error().message) << "\n";
        continue;
      }
      ++plugin_count;
      std::optional<std::string> bytes;
      if (trust) {
        std::string problem;
        bytes = readWholeFile(file, problem);
        if (!bytes) {
          std::cout << "  not readable: " << file << ": " << problem << "\n";
          continue;
        }
      }
      const auto& m = *manifest;
      std::cout << "  " << printable(m.id) << " " << printable(m.version) << "  ABI "
                << abiText(m.abi_major, m.abi_minor);
      if (m.abi_major != BW_ABI_MAJOR || m.abi_minor > BW_ABI_MINOR)
        std::cout << " (does NOT load on this busway)";
      std::cout << "  " << printable(m.status) << "  " << path.filename().string() << "\n";
      if (!m.endpoints.empty()) std::cout << "    endpoints:    " << joined(m.endpoints) << "\n";
      if (!m.formats.empty()) std::cout << "    formats:      " << joined(m.formats) << "\n";
      if (!m.transformers.empty())
        std::cout << "    transformers: " << joined(m.transformers) << "\n";
      std::cout << "    signature:    "
                << printable(describeSignature(
                       signatureOf(file, bytes ? &*bytes : nullptr, trust ? &*trust : nullptr)))
                << "\n";
      for (const auto& e : m.endpoints) {
        const auto [it, inserted] = scheme_owner.emplace(e.name, file);
        if (!inserted) {
          std::cout << "    warning: scheme '" << printable(e.name) << "' is also offered by "
                    << it->second << "; the bus refuses the second plugin that claims it\n";
        }
      }
    }
  }
  std::cout << plugin_count << (plugin_count == 1 ? " plugin\n" : " plugins\n");
  return status;
}

int keygenCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kKeygenHelp;
    return kOk;
  }
  std::string prefix;
  const bool has_out = args.option("out", prefix);
  const auto rest = args.positional();
  if (!args.error().empty()) return usageError("keygen", args.error());
  if (!has_out || prefix.empty())
    return usageError("keygen", "--out PREFIX is required (writes PREFIX.key and PREFIX.pub)");
  if (!rest.empty()) return usageError("keygen", "takes no arguments besides --out PREFIX");

  const std::string key_path = prefix + ".key";
  const std::string pub_path = prefix + ".pub";
  std::error_code ec;
  for (const auto& path : {key_path, pub_path}) {
    if (fs::exists(path, ec)) {
      std::cerr << "busway plugins keygen: " << path
                << " already exists; choose another --out or move the old key away\n";
      return kFailed;
    }
  }
  auto pair = generateKeyPair();
  if (!pair) {
    std::cerr << "busway plugins keygen: " << pair.error().message << "\n";
    return kFailed;
  }
  std::string problem;
  if (!writeNewFile(key_path, pair->private_pem, 0600, problem)) {
    std::cerr << "busway plugins keygen: " << key_path << " " << problem << "\n";
    return kFailed;
  }
  if (!writeNewFile(pub_path, pair->public_pem, 0644, problem)) {
    std::cerr << "busway plugins keygen: " << pub_path << " " << problem << "\n";
    // Half a key pair is of no use and would block the next attempt with "already exists".
    std::error_code ignored;
    fs::remove(key_path, ignored);
    return kFailed;
  }
  std::cout << "key id: " << pair->key_id << "\n"
            << "private key: " << key_path
            << " (keep it secret; sign with: busway plugins sign --key " << key_path << " FILE)\n"
            << "public key:  " << pub_path
            << " (give it to integrators for their trust store folder)\n";
  return kOk;
}

int signCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kSignHelp;
    return kOk;
  }
  std::string key_path;
  const bool has_key = args.option("key", key_path);
  const auto files = args.positional();
  if (!args.error().empty()) return usageError("sign", args.error());
  if (!has_key)
    return usageError("sign", "--key PREFIX.key is required (make one with busway plugins keygen)");
  if (files.empty()) return usageError("sign", "name at least one file to sign");

  std::string problem;
  const auto key = readWholeFile(key_path, problem);
  if (!key) {
    std::cerr << "busway plugins sign: " << key_path << ": " << problem << "\n";
    return kFailed;
  }
  int status = kOk;
  for (const auto& file : files) {
    const auto bytes = readWholeFile(file, problem);
    if (!bytes) {
      std::cerr << file << ": " << problem << "\n";
      status = kFailed;
      continue;
    }
    // Signing any file is allowed, but a vendor who signs the wrong build output wants to know.
    if (auto manifest = readManifestSectionFromBytes(*bytes, file); !manifest) {
      std::cerr << "warning: " << manifest.error().message << "; signing it anyway\n";
    }
    auto signature = signBytes(*bytes, *key);
    if (!signature) {
      std::cerr << "busway plugins sign: " << key_path << ": " << signature.error().message << "\n";
      return kFailed;
    }
    if (!replaceFile(file + ".sig", *signature, problem)) {
      std::cerr << file << ".sig " << problem << "\n";
      status = kFailed;
      continue;
    }
    std::cout << file << ".sig: written\n";
  }
  return status;
}

int verifyCommand(Args& args) {
  if (args.flag("help")) {
    std::cout << kVerifyHelp;
    return kOk;
  }
  std::string trust_dir;
  const bool has_trust = args.option("trust", trust_dir);
  const auto files = args.positional();
  if (!args.error().empty()) return usageError("verify", args.error());
  if (!has_trust)
    return usageError("verify", "--trust DIR is required (a folder of trusted *.pub keys)");
  if (files.empty()) return usageError("verify", "name at least one file to verify");
  const auto trust = loadTrust("verify", trust_dir);
  if (!trust) return kFailed;

  int status = kOk;
  for (const auto& file : files) {
    std::string problem;
    const auto bytes = readWholeFile(file, problem);
    if (!bytes) {
      std::cerr << file << ": " << problem << "\n";
      status = kFailed;
      continue;
    }
    const auto state = signatureOf(file, &*bytes, &*trust);
    if (state.check.valid) {
      std::cout << file << ": valid signature by key " << state.check.key_id << " ("
                << state.check.signer << ")\n";
    } else {
      std::cerr << file << ": "
                << (state.present
                        ? state.check.problem
                        : "not signed (no " + file +
                              ".sig); sign it with busway plugins sign --key VENDOR.key " + file)
                << "\n";
      status = kFailed;
    }
  }
  return status;
}

}  // namespace

int pluginsCommand(Args& args) {
  const auto& raw = args.remaining();
  if (raw.empty() || raw[0] == "--help" || raw[0] == "-h" || raw[0] == "help") {
    std::cout << kPluginsHelp;
    return raw.empty() ? kUsage : kOk;
  }
  const std::string sub = raw[0];
  // One table, so a new subcommand is one line here and the error below lists it.
  static const std::vector<std::pair<std::string, int (*)(Args&)>> kSubcommands = {
      {"list", listCommand},          {"inspect", inspectCommand},
      {"keygen", keygenCommand},      {"sign", signCommand},
      {"verify", verifyCommand},      {"new", pluginsNewCommand},  // plugins_new_command.cpp
      {"check", pluginsCheckCommand},                              // plugins_check_command.cpp
  };
  Args rest("plugins " + sub, std::vector<std::string>(raw.begin() + 1, raw.end()));
  std::string known;
  for (const auto& [name, run] : kSubcommands) {
    if (name == sub) return run(rest);
    known += (known.empty() ? "" : ", ") + name;
  }
  std::cerr << "busway plugins: unknown subcommand '" << sub << "'; the subcommands are " << known
            << " (see busway plugins --help)\n";
  return kUsage;
}

}  // namespace busway::cli
