/* A tiny data format for the tests of <marshal>/<unmarshal> (core/src/transform/):
 * "kv" reads lines KEY<separator>VALUE into a flat JSON object of strings, and writes such
 * an object back as lines. Options: separator (string, default "="), and upper-case-keys
 * (boolean, default false) for marshal. Only what the tests need: flat objects of strings
 * without escapes. The real formats live in plugins/ (csv, json, xml, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <busway/plugin.h>

__attribute__((section(".busway_manifest"), used)) static const char manifest[] =
    "{\"manifest_version\":1,\"id\":\"kv-format\",\"name\":\"KV test "
    "format\",\"version\":\"1.0.0\","
    "\"vendor\":\"busway tests\",\"license\":\"Apache-2.0\",\"status\":\"experimental\","
    "\"abi\":{\"major\":1,\"minor\":0},"
    "\"formats\":[{\"name\":\"kv\",\"doc\":\"key=value lines <-> flat JSON object\","
    "\"options\":[{\"name\":\"separator\",\"type\":\"string\",\"default\":\"=\",\"doc\":\"between "
    "key and value\"},"
    "{\"name\":\"upper-case-keys\",\"type\":\"boolean\",\"default\":\"false\",\"doc\":\"marshal "
    "keys in upper case\"}]}]}";

static const bw_host_api* host_api;

typedef struct kv {
  char separator[16];
  int upper;
} kv;

static void set_error(bw_error* error, const char* text) {
  if (error && error->message && error->capacity > 0)
    snprintf(error->message, error->capacity, "%s", text);
}

static int is(bw_str s, const char* text) {
  return s.size == strlen(text) && memcmp(s.data, text, s.size) == 0;
}

static bw_status create(void* state, const bw_option* options, size_t n, void** out,
                        bw_error* error) {
  (void)state;
  kv* f = calloc(1, sizeof *f);
  if (!f) return BW_ERR_PERMANENT;
  strcpy(f->separator, "=");
  for (size_t i = 0; i < n; ++i) {
    if (is(options[i].name, "separator")) {
      if (options[i].value.size == 0 || options[i].value.size >= sizeof f->separator) {
        set_error(error, "separator must be 1 to 15 characters");
        free(f);
        return BW_ERR_INVALID;
      }
      memcpy(f->separator, options[i].value.data, options[i].value.size);
      f->separator[options[i].value.size] = 0;
    } else if (is(options[i].name, "upper-case-keys")) {
      f->upper = is(options[i].value, "true");
    }
  }
  *out = f;
  return BW_OK;
}

static void destroy_format(void* format) { free(format); }

static bw_str str(const char* text, size_t size) {
  bw_str r = {text, size};
  return r;
}

/* {"a":"1","b":"2"} -> a=1\nb=2 */
static bw_status marshal(void* format, bw_message* message, bw_error* error) {
  kv* f = format;
  bw_str body = host_api->message_body(message);
  char* out = malloc(body.size * 2 + 64);
  if (!out) return BW_ERR_PERMANENT;
  size_t o = 0, i = 0;
  const char* p = body.data;
  while (i < body.size && p[i] != '{') ++i;
  if (i == body.size) {
    free(out);
    set_error(error, "kv: the body is not a JSON object");
    return BW_ERR_INVALID;
  }
  ++i;
  for (;;) {
    while (i < body.size && (p[i] == ' ' || p[i] == ',' || p[i] == '\n')) ++i;
    if (i >= body.size || p[i] == '}') break;
    if (p[i] != '"') {
      free(out);
      set_error(error, "kv: only flat objects of strings can be written");
      return BW_ERR_INVALID;
    }
    size_t k = ++i;
    while (i < body.size && p[i] != '"') ++i;
    for (size_t j = k; j < i; ++j)
      out[o++] = f->upper && p[j] >= 'a' && p[j] <= 'z' ? (char)(p[j] - 32) : p[j];
    for (const char* s = f->separator; *s; ++s) out[o++] = *s;
    ++i;
    while (i < body.size && (p[i] == ':' || p[i] == ' ')) ++i;
    if (i >= body.size || p[i] != '"') {
      free(out);
      set_error(error, "kv: only flat objects of strings can be written");
      return BW_ERR_INVALID;
    }
    size_t v = ++i;
    while (i < body.size && p[i] != '"') ++i;
    memcpy(out + o, p + v, i - v);
    o += i - v;
    out[o++] = '\n';
    ++i;
  }
  bw_status status = host_api->message_set_body(message, str(out, o), str("text/plain", 10));
  free(out);
  return status;
}

/* a=1\nb=2 -> {"a":"1","b":"2"} */
static bw_status unmarshal(void* format, bw_message* message, bw_error* error) {
  kv* f = format;
  bw_str body = host_api->message_body(message);
  size_t sep = strlen(f->separator);
  char* out = malloc(body.size * 2 + 16);
  if (!out) return BW_ERR_PERMANENT;
  size_t o = 0, i = 0, line = 1;
  out[o++] = '{';
  while (i < body.size) {
    size_t end = i;
    while (end < body.size && body.data[end] != '\n') ++end;
    if (end > i) {
      const char* found = NULL;
      for (size_t j = i; j + sep <= end; ++j) {
        if (memcmp(body.data + j, f->separator, sep) == 0) {
          found = body.data + j;
          break;
        }
      }
      if (!found) {
        char text[128];
        snprintf(text, sizeof text, "kv: line %zu has no '%s'", line, f->separator);
        set_error(error, text);
        free(out);
        return BW_ERR_INVALID;
      }
      if (o > 1) out[o++] = ',';
      out[o++] = '"';
      memcpy(out + o, body.data + i, (size_t)(found - (body.data + i)));
      o += (size_t)(found - (body.data + i));
      memcpy(out + o, "\":\"", 3);
      o += 3;
      size_t value = (size_t)(found - body.data) + sep;
      memcpy(out + o, body.data + value, end - value);
      o += end - value;
      out[o++] = '"';
    }
    i = end + 1;
    ++line;
  }
  out[o++] = '}';
  bw_status status = host_api->message_set_body(message, str(out, o), str("application/json", 16));
  free(out);
  return status;
}

static const bw_format_api kv_format = {sizeof(bw_format_api), "kv",    create,
                                        destroy_format,        marshal, unmarshal};
static const bw_format_api* const formats[] = {&kv_format};

static bw_status init(const bw_host_api* api, bw_host* h, const bw_option* config, size_t n,
                      void** state, bw_error* error) {
  (void)h;
  (void)config;
  (void)n;
  (void)error;
  host_api = api;
  *state = NULL;
  return BW_OK;
}
static void drain(void* state, uint64_t timeout_ms) {
  (void)state;
  (void)timeout_ms;
}
static void destroy(void* state) { (void)state; }

static const bw_plugin_descriptor descriptor = {sizeof(bw_plugin_descriptor),
                                                1,
                                                0,
                                                "kv-format",
                                                "1.0.0",
                                                init,
                                                drain,
                                                destroy,
                                                NULL,
                                                0,
                                                formats,
                                                1,
                                                NULL,
                                                0};

BW_EXPORT const bw_plugin_descriptor* busway_plugin_entry(uint32_t major, uint32_t minor) {
  (void)major;
  (void)minor;
  return &descriptor;
}
