// Reads the ".busway_manifest" section of a plugin file by parsing the ELF headers by hand.
//
// Why by hand: `busway plugins inspect` and the host read the manifest of files that may be
// hostile, BEFORE deciding to load them. dlopen would run the file's static initialisers,
// and libelf/BFD are large attack surfaces for a few dozen bytes of headers. Every offset
// and size read from the file is checked against the file's size before it is used, with
// overflow-safe arithmetic, so a truncated or crafted file gives an error, never a crash.
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>

#include "busway/plugin.h"
#include "busway/plugin/manifest.hpp"

namespace busway {
namespace {

// Sizes and offsets of the ELF64 structures (System V gABI), read field by field from
// bytes so nothing depends on the host's struct layout or alignment.
constexpr std::uint64_t kElfHeaderSize = 64;
constexpr std::uint64_t kSectionHeaderSize = 64;
constexpr unsigned char kElfClass64 = 2;
constexpr unsigned char kElfDataLittle = 1;
constexpr std::uint16_t kTypeRelocatable = 1;
constexpr std::uint16_t kTypeExecutable = 2;
constexpr std::uint16_t kTypeShared = 3;
constexpr std::uint16_t kTypeCore = 4;
constexpr std::uint32_t kSectionNoBits = 8;  // SHT_NOBITS: occupies no bytes in the file
constexpr std::uint16_t kSectionIndexExtended = 0xffff;  // SHN_XINDEX

// A manifest is a few KiB of JSON; anything bigger is a mistake or an attack.
constexpr std::uint64_t kMaxManifestSize = 1024 * 1024;
// Section names of a real library fit in a few hundred bytes.
constexpr std::uint64_t kMaxSectionNameTableSize = 1024 * 1024;
// Real libraries have tens of sections; the cap bounds the work on a crafted header.
constexpr std::uint64_t kMaxSections = 1 << 16;

std::uint16_t u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t u64(const unsigned char* p) {
  return static_cast<std::uint64_t>(u32(p)) | (static_cast<std::uint64_t>(u32(p + 4)) << 32);
}

// True when [offset, offset + size) lies inside a file of `file_size` bytes, without the
// overflow that `offset + size <= file_size` would have on crafted values.
bool within(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

// Where the bytes come from: a file read piece by piece (so `plugins list` over a folder of
// large libraries reads a few KiB of each), or bytes already in memory (the exact bytes the
// host verified and will load).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  // Reads exactly `length` bytes at `offset`; the caller has checked the range.
  virtual bool read(std::uint64_t offset, std::uint64_t length, std::string& out) = 0;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(const std::string& bytes) : bytes_(bytes) {}
  std::uint64_t size() const override { return bytes_.size(); }
  bool read(std::uint64_t offset, std::uint64_t length, std::string& out) override {
    if (!within(offset, length, bytes_.size())) return false;
    out.assign(bytes_, static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
    return true;
  }

 private:
  const std::string& bytes_;
};

class FileSource final : public ByteSource {
 public:
  FileSource(std::ifstream& in, std::uint64_t size) : in_(in), size_(size) {}
  std::uint64_t size() const override { return size_; }
  bool read(std::uint64_t offset, std::uint64_t length, std::string& out) override {
    if (!within(offset, length, size_)) return false;
    out.resize(static_cast<std::size_t>(length));
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    if (!in_) return false;
    in_.read(out.data(), static_cast<std::streamsize>(length));
    return in_.gcount() == static_cast<std::streamsize>(length);
  }

 private:
  std::ifstream& in_;
  std::uint64_t size_;
};

const unsigned char* bytesOf(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Error fail(const std::string& name, const std::string& problem) {
  return Error(ErrorKind::invalid, name + ": " + problem);
}

Error truncated(const std::string& name, const std::string& what, std::uint64_t offset,
                std::uint64_t size, std::uint64_t file_size) {
  return fail(name, "truncated or corrupt ELF file: " + what + " (offset " +
                        std::to_string(offset) + ", " + std::to_string(size) +
                        " bytes) lies beyond the end of the file (" + std::to_string(file_size) +
                        " bytes); was the file cut short while copying?");
}

struct SectionHeader {
  std::uint32_t name = 0;
  std::uint32_t type = 0;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint32_t link = 0;
};

SectionHeader parseSectionHeader(const unsigned char* p) {
  SectionHeader h;
  h.name = u32(p + 0);
  h.type = u32(p + 4);
  h.offset = u64(p + 24);
  h.size = u64(p + 32);
  h.link = u32(p + 40);
  return h;
}

Result<std::string> readFrom(ByteSource& source, const std::string& name) {
  const std::uint64_t file_size = source.size();
  static constexpr std::array<unsigned char, 4> kMagic = {0x7f, 'E', 'L', 'F'};

  // Identification. A short file that starts like ELF is "truncated"; anything else "not ELF".
  std::string ident;
  const std::uint64_t ident_size = file_size < kElfHeaderSize ? file_size : kElfHeaderSize;
  if (!source.read(0, ident_size, ident)) return fail(name, "cannot read the file");
  const std::size_t magic_seen = ident.size() < kMagic.size() ? ident.size() : kMagic.size();
  if (magic_seen == 0 || std::memcmp(ident.data(), kMagic.data(), magic_seen) != 0) {
    return fail(
        name,
        "not an ELF shared library (busway plugins are .so files built with busway_add_plugin())");
  }
  if (file_size < kElfHeaderSize) {
    return fail(name, "truncated ELF header (" + std::to_string(file_size) +
                          " bytes; an ELF64 header has " + std::to_string(kElfHeaderSize) +
                          "); was the file cut short while copying?");
  }
  const unsigned char* h = bytesOf(ident);
  if (h[4] != kElfClass64) {
    return fail(
        name, std::string("is a ") + (h[4] == 1 ? "32-bit" : "unknown-class") +
                  " ELF file; busway plugins are 64-bit little-endian libraries (x86_64, aarch64)");
  }
  if (h[5] != kElfDataLittle) {
    return fail(
        name,
        "is a big-endian (or unknown byte order) ELF file; busway plugins are 64-bit little-endian "
        "libraries (x86_64, aarch64)");
  }
  const std::uint16_t type = u16(h + 16);
  if (type != kTypeShared) {
    std::string kind = "an ELF file of unknown type " + std::to_string(type);
    if (type == kTypeRelocatable) kind = "an ELF object file (.o)";
    if (type == kTypeExecutable) kind = "an ELF executable";
    if (type == kTypeCore) kind = "an ELF core dump";
    return fail(name,
                "is " + kind + ", not a shared library; build the plugin with busway_add_plugin()");
  }

  const std::uint64_t shoff = u64(h + 40);
  const std::uint16_t shentsize = u16(h + 58);
  std::uint64_t shnum = u16(h + 60);
  std::uint32_t shstrndx = u16(h + 62);
  if (shoff == 0) {
    return fail(
        name,
        "is a shared library without section headers (stripped with sstrip?), so it carries no "
        "busway manifest; rebuild it with busway_add_plugin() and strip it with plain 'strip'");
  }
  if (shentsize != kSectionHeaderSize) {
    return fail(name, "corrupt ELF header: section header size " + std::to_string(shentsize) +
                          ", expected " + std::to_string(kSectionHeaderSize));
  }

  // Section 0 holds the real count and name-table index when they do not fit in 16 bits
  // (gABI extended numbering). Read it first; it must exist in any case.
  std::string entry;
  if (!within(shoff, kSectionHeaderSize, file_size)) {
    return truncated(name, "the section header table", shoff, kSectionHeaderSize, file_size);
  }
  if (!source.read(shoff, kSectionHeaderSize, entry))
    return fail(name, "cannot read the section header table");
  const SectionHeader first = parseSectionHeader(bytesOf(entry));
  if (shnum == 0) shnum = first.size;
  if (shstrndx == kSectionIndexExtended) shstrndx = first.link;
  if (shnum == 0 || shnum > kMaxSections) {
    return fail(name, "corrupt ELF header: " + std::to_string(shnum) + " sections");
  }
  if (shstrndx == 0 || shstrndx >= shnum) {
    return fail(name, "corrupt ELF header: the section name table index " +
                          std::to_string(shstrndx) + " is not one of the " + std::to_string(shnum) +
                          " sections");
  }
  const std::uint64_t table_size = shnum * kSectionHeaderSize;  // cannot overflow: shnum <= 2^16
  if (!within(shoff, table_size, file_size)) {
    return truncated(name, "the section header table (" + std::to_string(shnum) + " entries)",
                     shoff, table_size, file_size);
  }
  std::string table;
  if (!source.read(shoff, table_size, table))
    return fail(name, "cannot read the section header table");
  const unsigned char* sections = bytesOf(table);

  const SectionHeader names = parseSectionHeader(sections + shstrndx * kSectionHeaderSize);
  if (names.type == kSectionNoBits)
    return fail(name, "corrupt ELF file: the section name table has no content");
  if (names.size > kMaxSectionNameTableSize) {
    return fail(name, "corrupt ELF file: the section name table claims " +
                          std::to_string(names.size) + " bytes");
  }
  if (!within(names.offset, names.size, file_size)) {
    return truncated(name, "the section name table", names.offset, names.size, file_size);
  }
  std::string name_table;
  if (!source.read(names.offset, names.size, name_table))
    return fail(name, "cannot read the section name table");

  // The wanted name including its NUL, so ".busway_manifest2" does not match.
  static constexpr std::string_view kWanted{BW_MANIFEST_SECTION, sizeof(BW_MANIFEST_SECTION)};
  bool found = false;
  SectionHeader manifest;
  for (std::uint64_t i = 1; i < shnum; ++i) {
    const SectionHeader s = parseSectionHeader(sections + i * kSectionHeaderSize);
    if (s.name >= name_table.size()) {
      return fail(name, "corrupt ELF file: the name of section " + std::to_string(i) +
                            " points outside the section name table");
    }
    if (name_table.compare(s.name, kWanted.size(), kWanted) != 0) continue;
    if (found) {
      return fail(
          name, "has two " BW_MANIFEST_SECTION " sections; a plugin carries exactly one manifest");
    }
    manifest = s;
    found = true;
  }
  if (!found) {
    return fail(name, "is a shared library but not a busway plugin (no " BW_MANIFEST_SECTION
                      " section); was it built with busway_add_plugin()?");
  }
  if (manifest.type == kSectionNoBits || manifest.size == 0) {
    return fail(name, "the " BW_MANIFEST_SECTION
                      " section is empty; was the plugin built with busway_add_plugin()?");
  }
  if (manifest.size > kMaxManifestSize) {
    return fail(name, "the " BW_MANIFEST_SECTION " section has " + std::to_string(manifest.size) +
                          " bytes; a manifest is at most " + std::to_string(kMaxManifestSize) +
                          " bytes");
  }
  if (!within(manifest.offset, manifest.size, file_size)) {
    return truncated(name, "the " BW_MANIFEST_SECTION " section", manifest.offset, manifest.size,
                     file_size);
  }
  std::string text;
  if (!source.read(manifest.offset, manifest.size, text))
    return fail(name, "cannot read the manifest section");

  // The compiler or linker may pad the section with NULs (alignment, the string's own NUL).
  while (!text.empty() && text.back() == '\0') text.pop_back();
  if (text.empty()) {
    return fail(name, "the " BW_MANIFEST_SECTION
                      " section is empty; was the plugin built with busway_add_plugin()?");
  }
  if (const auto nul = text.find('\0'); nul != std::string::npos) {
    return fail(name, "the " BW_MANIFEST_SECTION
                      " section holds binary data or several manifests (a NUL byte at "
                      "offset " +
                          std::to_string(nul) + "); define the manifest in one source file only");
  }
  return text;
}

}  // namespace

Result<std::string> readManifestSectionFromBytes(const std::string& bytes,
                                                 const std::string& name_for_errors) {
  MemorySource source(bytes);
  return readFrom(source, name_for_errors);
}

Result<std::string> readManifestSection(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return fail(path, "no such file");
  if (std::filesystem::is_directory(status)) return fail(path, "is a folder, not a plugin file");
  if (!std::filesystem::is_regular_file(status)) return fail(path, "is not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(path, "cannot read its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path, "cannot be opened for reading (check its permissions)");
  FileSource source(in, size);
  return readFrom(source, path);
}

Result<PluginManifest> readManifest(const std::string& path) {
  auto text = readManifestSection(path);
  if (!text) return std::move(text).error();
  auto manifest = PluginManifest::fromJson(*text);
  if (!manifest) {
    Error error = std::move(manifest).error();
    error.message = path + ": invalid manifest: " + error.message;
    return error;
  }
  return manifest;
}

}  // namespace busway
