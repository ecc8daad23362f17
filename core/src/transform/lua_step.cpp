// <lua script="enrich.lua"/> or the script as the element's text: Lua 5.4, sandboxed.
//
// The script sees a table `message` with
//   message.body        the body as a string
//   message.json        the body parsed as JSON (tables; arrays are 1-based; null is json.null),
//                       parsed on first use; nil when the body is not JSON
//   message.headers     a table of the headers (name -> string/number/boolean); what is
//                       in it when the script ends becomes the message's headers
//   message.media_type  the body's media type (may be changed)
// and a table `json` with encode(value), decode(text) and null. It may return
//   a string  -> the new body (media type: message.media_type)
//   a table   -> the new body as JSON (application/json)
//   nothing   -> the body is message.body (changed or not)
// error("...") fails the message (invalid: dead-lettered, not retried).
//
// Sandbox: only base functions without load/loadfile/dofile/require/collectgarbage, and the
// string (without dump), table, math, utf8 and coroutine libraries, plus os.time, os.clock,
// os.date and os.difftime. No io, os, package or debug. Text chunks only (no bytecode).
// Each message gets fresh globals. Limits: max-instructions (VM instructions per message,
// default 10,000,000) and max-memory (bytes per Lua state, default 16MB).
extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
}

#include <cstring>
#include <mutex>
#include <regex>

#include <nlohmann/json.hpp>

#include "busway/util/log.hpp"
#include "busway/util/text.hpp"
#include "transform_steps.hpp"

namespace busway {
namespace {

using nlohmann::json;

constexpr int kHookEvery = 1000;
constexpr int kMaxDepth = 200;
const char* const kArrayMarker = "busway.json.array";
const char* const kSandbox = "busway.sandbox";
const char* const kChunk = "busway.chunk";

struct Limits {
  std::int64_t max_instructions = 10'000'000;
  std::size_t max_memory = 16 * 1024 * 1024;
};

// One Lua state with the script loaded and the sandbox built.
class LuaState {
 public:
  explicit LuaState(Limits limits) : limits_(limits) {
    state_ = lua_newstate(&LuaState::allocate, this);
    if (state_ != nullptr) *static_cast<LuaState**>(lua_getextraspace(state_)) = this;
  }
  ~LuaState() {
    if (state_ != nullptr) lua_close(state_);
  }
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;

  lua_State* get() const { return state_; }

  // Builds the sandbox and loads the chunk; false with `error` ("name:line: message").
  bool prepare(const std::string& code, const std::string& chunk_name, std::string& error) {
    if (state_ == nullptr) {
      error = "cannot create a Lua state";
      return false;
    }
    lua_State* L = state_;
    static const luaL_Reg kLibs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_OSLIBNAME, luaopen_os}};
    for (const auto& lib : kLibs) {
      luaL_requiref(L, lib.name, lib.func, 1);
      lua_pop(L, 1);
    }
    // string.dump would hand out bytecode; the string metatable points at this table.
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    // The sandbox: what scripts may reach (fresh globals per message index into it).
    lua_newtable(L);
    static const char* const kBase[] = {
        "assert",       "error",    "ipairs",   "next",   "pairs",  "pcall",
        "rawequal",     "rawget",   "rawlen",   "rawset", "select", "setmetatable",
        "getmetatable", "tonumber", "tostring", "type",   "xpcall", "_VERSION"};
    lua_pushglobaltable(L);
    for (const char* name : kBase) {
      lua_getfield(L, -1, name);
      lua_setfield(L, -3, name);
    }
    lua_pop(L, 1);
    for (const char* lib : {"string", "table", "math", "utf8", "coroutine"}) {
      lua_getglobal(L, lib);
      lua_setfield(L, -2, lib);
    }
    lua_newtable(L);  // os: the harmless part
    lua_getglobal(L, "os");
    for (const char* name : {"time", "clock", "date", "difftime"}) {
      lua_getfield(L, -1, name);
      lua_setfield(L, -3, name);
    }
    lua_pop(L, 1);
    lua_setfield(L, -2, "os");
    lua_pushcfunction(L, &LuaState::print);
    lua_setfield(L, -2, "print");
    lua_newtable(L);  // json
    lua_pushcfunction(L, &LuaState::jsonEncode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, &LuaState::jsonDecode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, nullLight());
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");
    lua_setfield(L, LUA_REGISTRYINDEX, kSandbox);
    luaL_newmetatable(L, kArrayMarker);
    lua_pop(L, 1);
    // The chunk, text only.
    if (luaL_loadbufferx(L, code.data(), code.size(), chunk_name.c_str(), "t") != LUA_OK) {
      error = lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "cannot load the script";
      lua_pop(L, 1);
      return false;
    }
    lua_setfield(L, LUA_REGISTRYINDEX, kChunk);
    lua_gc(L, LUA_GCCOLLECT);
    return true;
  }

  // Runs the chunk on `exchange`.
  Result<void> run(Exchange& exchange, const std::string& name) {
    lua_State* L = state_;
    lua_settop(L, 0);
    instructions_ = 0;
    memory_hit_ = false;
    lua_getfield(L, LUA_REGISTRYINDEX, kChunk);  // 1: chunk
    // Fresh globals: a new table whose __index is the sandbox.
    lua_newtable(L);  // 2: env
    lua_newtable(L);
    lua_getfield(L, LUA_REGISTRYINDEX, kSandbox);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    // message
    lua_newtable(L);
    const auto body = exchange.message.bodyText();
    lua_pushlstring(L, body.data(), body.size());
    lua_setfield(L, -2, "body");
    lua_pushstring(L, exchange.message.body().mediaType().c_str());
    lua_setfield(L, -2, "media_type");
    lua_newtable(L);
    for (const auto& [header, value] : exchange.message.headers()) {
      pushHeader(L, value);
      lua_setfield(L, -2, header.c_str());
    }
    lua_setfield(L, -2, "headers");
    lua_newtable(L);  // metatable: message.json is parsed on first use
    lua_pushcfunction(L, &LuaState::lazyJson);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "message");
    lua_pushvalue(L, 2);
    if (lua_setupvalue(L, 1, 1) == nullptr) lua_pop(L, 1);  // _ENV of the chunk
    lua_sethook(L, &LuaState::hook, LUA_MASKCOUNT, kHookEvery);
    lua_pushvalue(L, 1);
    const int rc = lua_pcall(L, 0, 1, 0);
    lua_sethook(L, nullptr, 0, 0);
    if (rc != LUA_OK) {
      std::string message =
          lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "error object is not a string";
      lua_settop(L, 0);
      lua_gc(L, LUA_GCCOLLECT);
      if (rc == LUA_ERRMEM || memory_hit_) {
        return Error(ErrorKind::permanent, "lua " + name + ": memory limit of " +
                                               std::to_string(limits_.max_memory) +
                                               " bytes exceeded");
      }
      if (instructions_ > limits_.max_instructions) {
        return Error(
            ErrorKind::permanent,
            "lua " + name + ": instruction limit of " + std::to_string(limits_.max_instructions) +
                " exceeded (an endless loop?); raise max-instructions if the script needs more");
      }
      return Error(ErrorKind::invalid, "lua " + name + ": " + message);
    }
    Result<void> outcome = collect(exchange, name);
    lua_settop(L, 0);
    return outcome;
  }

 private:
  Result<void> collect(Exchange& exchange, const std::string& name) {
    lua_State* L = state_;
    // stack: 1 chunk, 2 env, 3 result
    lua_getfield(L, 2, "message");
    const int message = lua_gettop(L);
    if (!lua_istable(L, message))
      return Error(
          ErrorKind::invalid,
          "lua " + name + ": the script replaced 'message' with something that is not a table");
    std::string media_type = exchange.message.body().mediaType();
    lua_getfield(L, message, "media_type");
    if (lua_type(L, -1) == LUA_TSTRING) media_type = lua_tostring(L, -1);
    lua_pop(L, 1);
    // Headers.
    lua_getfield(L, message, "headers");
    if (lua_istable(L, -1)) {
      Headers headers;
      lua_pushnil(L);
      while (lua_next(L, -2) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING) {
          const std::string key = lua_tostring(L, -2);
          switch (lua_type(L, -1)) {
            case LUA_TBOOLEAN: headers.set(key, lua_toboolean(L, -1) != 0); break;
            case LUA_TNUMBER:
              if (lua_isinteger(L, -1))
                headers.set(key, static_cast<std::int64_t>(lua_tointeger(L, -1)));
              else
                headers.set(key, static_cast<double>(lua_tonumber(L, -1)));
              break;
            case LUA_TSTRING: {
              std::size_t n = 0;
              const char* s = lua_tolstring(L, -1, &n);
              headers.set(key, std::string(s, n));
              break;
            }
            default: break;
          }
        }
        lua_pop(L, 1);
      }
      exchange.message.headers() = std::move(headers);
    }
    lua_pop(L, 1);
    // Body.
    if (lua_type(L, 3) == LUA_TSTRING) {
      std::size_t n = 0;
      const char* s = lua_tolstring(L, 3, &n);
      exchange.message.setBody(std::string(s, n), media_type);
    } else if (lua_type(L, 3) == LUA_TTABLE) {
      std::string error;
      json value = toJson(L, 3, 0, error);
      if (!error.empty())
        return Error(ErrorKind::invalid,
                     "lua " + name + ": the returned table cannot be written as JSON: " + error);
      exchange.message.setBody(value.dump(), "application/json");
    } else if (lua_isnoneornil(L, 3)) {
      lua_getfield(L, message, "body");
      std::size_t n = 0;
      const char* s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : nullptr;
      if (s != nullptr && (std::string_view(s, n) != exchange.message.bodyText() ||
                           media_type != exchange.message.body().mediaType())) {
        exchange.message.setBody(std::string(s, n), media_type);
      }
      lua_pop(L, 1);
    } else {
      return Error(ErrorKind::invalid, "lua " + name + ": the script returned a " +
                                           luaL_typename(L, 3) +
                                           "; return a string, a table or nothing");
    }
    return {};
  }

  static void* nullLight() {
    static char sentinel;
    return &sentinel;
  }

  static LuaState* self(lua_State* L) { return *static_cast<LuaState**>(lua_getextraspace(L)); }

  static void* allocate(void* ud, void* ptr, std::size_t old_size, std::size_t new_size) {
    auto* state = static_cast<LuaState*>(ud);
    if (ptr == nullptr) old_size = 0;
    if (new_size == 0) {
      std::free(ptr);
      state->used_ -= old_size;
      return nullptr;
    }
    if (new_size > old_size && state->used_ + (new_size - old_size) > state->limits_.max_memory) {
      state->memory_hit_ = true;
      return nullptr;
    }
    void* out = std::realloc(ptr, new_size);
    if (out != nullptr) state->used_ = state->used_ - old_size + new_size;
    return out;
  }

  static void hook(lua_State* L, lua_Debug*) {
    LuaState* state = self(L);
    state->instructions_ += kHookEvery;
    if (state->instructions_ > state->limits_.max_instructions)
      luaL_error(L, "instruction limit exceeded");
  }

  static int print(lua_State* L) {
    std::string line;
    const int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i)
      line += (i > 1 ? "\t" : "") + std::string(luaL_tolstring(L, i, nullptr));
    Log::write(LogLevel::info, "lua", line);
    return 0;
  }

  static int lazyJson(lua_State* L) {
    // __index(message, key): only "json" is computed.
    const char* key = lua_tostring(L, 2);
    if (key == nullptr || std::strcmp(key, "json") != 0) return 0;
    lua_getfield(L, 1, "body");
    std::size_t n = 0;
    const char* s = lua_tolstring(L, -1, &n);
    json value =
        s != nullptr ? json::parse(s, s + n, nullptr, false) : json(json::value_t::discarded);
    if (value.is_discarded()) {
      lua_pushnil(L);
      return 1;
    }
    pushJson(L, value, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "json");  // cached: the script may change it and return it
    return 1;
  }

  static int jsonEncode(lua_State* L) {
    std::string error;
    json value = toJson(L, 1, 0, error);
    if (!error.empty()) return luaL_error(L, "json.encode: %s", error.c_str());
    const std::string text = value.dump();
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  }

  static int jsonDecode(lua_State* L) {
    std::size_t n = 0;
    const char* s = luaL_checklstring(L, 1, &n);
    json value = json::parse(s, s + n, nullptr, false);
    if (value.is_discarded()) return luaL_error(L, "json.decode: the text is not valid JSON");
    pushJson(L, value, 0);
    return 1;
  }

  static void pushHeader(lua_State* L, const HeaderValue& value) {
    std::visit(
        [L](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::monostate>)
            lua_pushlightuserdata(L, nullLight());
          else if constexpr (std::is_same_v<V, bool>)
            lua_pushboolean(L, v ? 1 : 0);
          else if constexpr (std::is_same_v<V, std::int64_t>)
            lua_pushinteger(L, static_cast<lua_Integer>(v));
          else if constexpr (std::is_same_v<V, double>)
            lua_pushnumber(L, static_cast<lua_Number>(v));
          else
            lua_pushlstring(L, v.data(), v.size());
        },
        value);
  }

  static void pushJson(lua_State* L, const json& value, int depth) {
    luaL_checkstack(L, 4, "JSON too deep");
    if (depth > kMaxDepth) luaL_error(L, "JSON nested deeper than %d levels", kMaxDepth);
    switch (value.type()) {
      case json::value_t::null: lua_pushlightuserdata(L, nullLight()); break;
      case json::value_t::boolean: lua_pushboolean(L, value.get<bool>() ? 1 : 0); break;
      case json::value_t::number_integer:
        lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::int64_t>()));
        break;
      case json::value_t::number_unsigned:
        lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::uint64_t>()));
        break;
      case json::value_t::number_float: lua_pushnumber(L, value.get<double>()); break;
      case json::value_t::string: {
        const auto& s = value.get_ref<const std::string&>();
        lua_pushlstring(L, s.data(), s.size());
        break;
      }
      case json::value_t::array: {
        lua_createtable(L, static_cast<int>(value.size()), 0);
        lua_Integer i = 1;
        for (const auto& element : value) {
          pushJson(L, element, depth + 1);
          lua_rawseti(L, -2, i++);
        }
        luaL_setmetatable(L, kArrayMarker);
        break;
      }
      case json::value_t::object: {
        lua_createtable(L, 0, static_cast<int>(value.size()));
        for (const auto& [key, member] : value.items()) {
          pushJson(L, member, depth + 1);
          lua_setfield(L, -2, key.c_str());
        }
        break;
      }
      default: lua_pushnil(L); break;
    }
  }

  static json toJson(lua_State* L, int index, int depth, std::string& error) {
    if (depth > kMaxDepth) {
      error = "nested deeper than " + std::to_string(kMaxDepth) + " levels (a cycle?)";
      return nullptr;
    }
    index = lua_absindex(L, index);
    switch (lua_type(L, index)) {
      case LUA_TNIL: return nullptr;
      case LUA_TLIGHTUSERDATA: return nullptr;  // json.null
      case LUA_TBOOLEAN: return lua_toboolean(L, index) != 0;
      case LUA_TNUMBER:
        if (lua_isinteger(L, index)) return static_cast<std::int64_t>(lua_tointeger(L, index));
        return static_cast<double>(lua_tonumber(L, index));
      case LUA_TSTRING: {
        std::size_t n = 0;
        const char* s = lua_tolstring(L, index, &n);
        return std::string(s, n);
      }
      case LUA_TTABLE: {
        luaL_checkstack(L, 4, "JSON too deep");
        bool marked = false;
        if (lua_getmetatable(L, index)) {
          luaL_getmetatable(L, kArrayMarker);
          marked = lua_rawequal(L, -1, -2) != 0;
          lua_pop(L, 2);
        }
        const lua_Integer length = static_cast<lua_Integer>(lua_rawlen(L, index));
        lua_Integer keys = 0;
        lua_pushnil(L);
        while (lua_next(L, index) != 0) {
          ++keys;
          lua_pop(L, 1);
        }
        if (marked || (length > 0 && keys == length)) {
          json array = json::array();
          for (lua_Integer i = 1; i <= length; ++i) {
            lua_rawgeti(L, index, i);
            array.push_back(toJson(L, -1, depth + 1, error));
            lua_pop(L, 1);
          }
          return array;
        }
        json object = json::object();
        lua_pushnil(L);
        while (lua_next(L, index) != 0) {
          std::string key;
          if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tostring(L, -2);
          } else if (lua_type(L, -2) == LUA_TNUMBER) {
            lua_pushvalue(L, -2);
            key = lua_tostring(L, -1);
            lua_pop(L, 1);
          } else {
            error =
                std::string("a table key of type ") + luaL_typename(L, -2) + " has no JSON form";
            lua_pop(L, 2);
            return object;
          }
          object[key] = toJson(L, -1, depth + 1, error);
          lua_pop(L, 1);
        }
        return object;
      }
      default:
        error = std::string("a ") + luaL_typename(L, index) + " has no JSON form";
        return nullptr;
    }
  }

  lua_State* state_ = nullptr;
  Limits limits_;
  std::size_t used_ = 0;
  std::int64_t instructions_ = 0;
  bool memory_hit_ = false;
};

class LuaTransformer final : public Transformer {
 public:
  LuaTransformer(std::string code, std::string chunk_name, std::string name, Limits limits,
                 std::unique_ptr<LuaState> first)
      : code_(std::move(code)),
        chunk_name_(std::move(chunk_name)),
        name_(std::move(name)),
        limits_(limits) {
    pool_.push_back(std::move(first));
  }

  Result<void> apply(Exchange& exchange) const override {
    std::unique_ptr<LuaState> state;
    {
      std::lock_guard lock(mutex_);
      if (!pool_.empty()) {
        state = std::move(pool_.back());
        pool_.pop_back();
      }
    }
    if (!state) {
      state = std::make_unique<LuaState>(limits_);
      std::string error;
      if (!state->prepare(code_, chunk_name_, error))
        return Error(ErrorKind::permanent, "lua " + name_ + ": " + error);
    }
    auto result = state->run(exchange, name_);
    std::lock_guard lock(mutex_);
    pool_.push_back(std::move(state));
    return result;
  }

 private:
  std::string code_;
  std::string chunk_name_;
  std::string name_;
  Limits limits_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<LuaState>> pool_;
};

}  // namespace

std::shared_ptr<const Transformer> compileLuaStep(const StepDef& step, TransformBuild& build) {
  const auto* script = step.attribute("script");
  if (script != nullptr && !step.text.empty()) {
    build.diagnostics.error(
        step.where, "<lua> takes a script file (script=\"...\") or the script as text, not both");
    return nullptr;
  }
  if (script == nullptr && step.text.empty()) {
    build.diagnostics.error(
        step.where,
        "<lua> needs a script: script=\"file.lua\" or the script as the element's text");
    return nullptr;
  }
  Limits limits;
  if (const auto* a = step.attribute("max-instructions")) {
    const auto v = parseInteger(a->value);
    if (!v || *v < 1000)
      build.diagnostics.error(
          a->value_where,
          "max-instructions must be a whole number of at least 1000, not '" + a->value + "'");
    else
      limits.max_instructions = *v;
  }
  if (const auto* a = step.attribute("max-memory")) {
    const auto v = parseSize(a->value);
    if (!v || *v < 256 * 1024)
      build.diagnostics.error(
          a->value_where,
          "max-memory must be a size of at least 256KB (e.g. 16MB), not '" + a->value + "'");
    else
      limits.max_memory = static_cast<std::size_t>(*v);
  }
  std::string code;
  std::string chunk_name;
  std::string name;
  if (script != nullptr) {
    const std::string path = transform::resolvePath(step, script->value);
    std::string error;
    auto text = transform::readFile(path, error);
    if (!text) {
      build.diagnostics.error(script->value_where,
                              "cannot read Lua script '" + path + "': " + error);
      return nullptr;
    }
    code = std::move(*text);
    chunk_name = "@" + path;
    name = script->value;
  } else {
    code = step.text;
    chunk_name = "=<lua>";
    name = "(inline)";
  }
  auto state = std::make_unique<LuaState>(limits);
  std::string error;
  if (!state->prepare(code, chunk_name, error)) {
    SourceLocation where = script != nullptr ? script->value_where : step.text_where;
    if (script == nullptr) {
      static const std::regex kLine(R"(^<lua>:(\d+): )");
      std::smatch m;
      if (std::regex_search(error, m, kLine)) {
        where = transform::textLine(step, std::stoi(m[1].str()));
        error = error.substr(static_cast<std::size_t>(m.length(0)));
      }
    }
    build.diagnostics.error(where, "Lua script does not compile: " + error);
    return nullptr;
  }
  return std::make_shared<LuaTransformer>(std::move(code), std::move(chunk_name), std::move(name),
                                          limits, std::move(state));
}

}  // namespace busway
