/* A plugin written in plain C against busway/plugin.h, for the host's tests.
 *  echo:NAME?prefix=P   producer: replies with P + body (request-reply), counts sends.
 *  echo:NAME?count=N    consumer: delivers N messages ("tick 1".."tick N") from a timer and
 *                       counts the acknowledgements it gets back (metrics acked/nacked).
 * Built several times with different defines to make bad plugins (see tests/CMakeLists.txt):
 *  ECHO_ABI_MAJOR / ECHO_ABI_MINOR  the ABI it claims (manifest and descriptor)
 *  ECHO_FAIL_INIT                   init fails
 *  ECHO_NO_ENTRY                    no entry point
 *  ECHO_ID / ECHO_SCHEME            its id and scheme
 *  ECHO_INLINE                      its manifest asks for "inline_routes"
 * Its own options (config greeting, workers) are counted at init as "config NAME=VALUE".
 * Every variant counts the done callbacks that ran inside its own deliver call, on its
 * thread (metric done_while_delivering): what "inline_routes" changes. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busway/plugin.h"

#ifndef ECHO_ABI_MAJOR
#define ECHO_ABI_MAJOR BW_ABI_MAJOR
#endif
#ifndef ECHO_ABI_MINOR
#define ECHO_ABI_MINOR BW_ABI_MINOR
#endif
#ifndef ECHO_ID
#define ECHO_ID "echo"
#endif
#ifndef ECHO_SCHEME
#define ECHO_SCHEME "echo"
#endif

#ifdef ECHO_INLINE
#define ECHO_INLINE_FIELD "\"inline_routes\":true,"
#else
#define ECHO_INLINE_FIELD ""
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

__attribute__((section(".busway_manifest"), used)) static const char manifest[] =
    "{\"manifest_version\":1,\"id\":\"" ECHO_ID "\",\"name\":\"Echo test plugin\",\"version\":\"1.0.0\","
    "\"vendor\":\"busway tests\",\"license\":\"Apache-2.0\",\"status\":\"experimental\","
    "\"abi\":{\"major\":" STR(ECHO_ABI_MAJOR) ",\"minor\":" STR(ECHO_ABI_MINOR) "},"
    "\"endpoints\":[{\"scheme\":\"" ECHO_SCHEME "\",\"consumer\":true,\"producer\":true," ECHO_INLINE_FIELD "\"doc\":\"echo for tests\","
    "\"options\":[{\"name\":\"prefix\",\"type\":\"string\",\"default\":\"echo: \",\"doc\":\"put before the body\"},"
    "{\"name\":\"count\",\"type\":\"integer\",\"default\":\"3\",\"doc\":\"messages a consumer delivers\"}]}],"
    "\"config\":[{\"name\":\"greeting\",\"type\":\"string\",\"default\":\"hello\",\"doc\":\"said at init\"},"
    "{\"name\":\"workers\",\"type\":\"integer\",\"default\":2,\"doc\":\"unused\"}]}";

static const bw_host_api* host_api;
static bw_host* host;

typedef struct endpoint {
  char prefix[128];
  int count;
} endpoint;

/* Freed by whichever comes last: stop, or the tick that was pending when stop came. */
typedef struct consumer {
  endpoint* ep;
  bw_route* route;
  int sent;
  pthread_mutex_t lock;
  int tick_pending;
  int stopped;
} consumer;

static bw_str s(const char* text) {
  bw_str r = {text, strlen(text)};
  return r;
}

static void set_error(bw_error* error, const char* text) {
  if (error && error->message && error->capacity > 0) {
    snprintf(error->message, error->capacity, "%s", text);
  }
}

static bw_status ep_create(void* state, bw_str uri, bw_str path, const bw_option* options, size_t n,
                           void** out, bw_error* error) {
  (void)state;
  (void)uri;
  (void)path;
  endpoint* ep = calloc(1, sizeof *ep);
  if (!ep) {
    set_error(error, "out of memory");
    return BW_ERR_TRANSIENT;
  }
  strcpy(ep->prefix, "echo: ");
  ep->count = 3;
  for (size_t i = 0; i < n; ++i) {
    if (options[i].name.size == 6 && memcmp(options[i].name.data, "prefix", 6) == 0) {
      size_t len = options[i].value.size < sizeof ep->prefix - 1 ? options[i].value.size
                                                                 : sizeof ep->prefix - 1;
      memcpy(ep->prefix, options[i].value.data, len);
      ep->prefix[len] = 0;
    } else if (options[i].name.size == 5 && memcmp(options[i].name.data, "count", 5) == 0) {
      char number[32] = {0};
      memcpy(number, options[i].value.data,
             options[i].value.size < 31 ? options[i].value.size : 31);
      ep->count = atoi(number);
    }
  }
  *out = ep;
  return BW_OK;
}

static void ep_destroy(void* ep) { free(ep); }

static __thread int delivering; /* this thread is inside host_api->deliver */

static void on_done(void* context, bw_status status, const bw_message* reply, bw_str error) {
  (void)context;
  (void)reply;
  (void)error;
  host_api->metric_add(host, s(status == BW_OK ? "acked" : "nacked"), 1.0);
  if (delivering) host_api->metric_add(host, s("done_while_delivering"), 1.0);
}

static void tick(void* context) {
  consumer* c = context;
  pthread_mutex_lock(&c->lock);
  c->tick_pending = 0;
  if (c->stopped) {
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return;
  }
  if (c->sent < c->ep->count) {
    char body[64];
    snprintf(body, sizeof body, "tick %d", ++c->sent);
    bw_message* m = host_api->message_new(host);
    host_api->message_set_body(m, s(body), s("text/plain"));
    host_api->message_header_set_int(m, s("tick"), c->sent);
    delivering = 1;
    if (host_api->deliver(c->route, m, 0, on_done, c) != BW_OK)
      host_api->metric_add(host, s("refused"), 1.0);
    delivering = 0;
  }
  if (c->sent < c->ep->count && host_api->schedule(host, 5, tick, c) == BW_OK) c->tick_pending = 1;
  pthread_mutex_unlock(&c->lock);
}

static bw_status ep_start(void* ep, bw_route* route, void** out, bw_error* error) {
  (void)error;
  consumer* c = calloc(1, sizeof *c);
  c->ep = ep;
  c->route = route;
  pthread_mutex_init(&c->lock, NULL);
  c->tick_pending = host_api->schedule(host, 1, tick, c) == BW_OK;
  *out = c;
  return BW_OK;
}

static void ep_stop(void* context) {
  consumer* c = context;
  pthread_mutex_lock(&c->lock);
  c->stopped = 1;
  const int pending = c->tick_pending;
  pthread_mutex_unlock(&c->lock);
  if (!pending) {
    pthread_mutex_destroy(&c->lock);
    free(c);
  }
}

static bw_status ep_send(void* ep_ptr, bw_sending* sending, bw_error* error) {
  endpoint* ep = ep_ptr;
  bw_message* in = host_api->sending_message(sending);
  bw_str body = host_api->message_body(in);
  if (body.size == 4 && memcmp(body.data, "fail", 4) == 0) {
    set_error(error, "echo refuses the body 'fail'");
    return BW_ERR_PERMANENT;
  }
  host_api->metric_add(host, s("sent"), 1.0);
  if (!host_api->sending_wants_reply(sending)) return BW_OK;
  size_t plen = strlen(ep->prefix);
  char* text = malloc(plen + body.size + 1);
  memcpy(text, ep->prefix, plen);
  memcpy(text + plen, body.data, body.size);
  bw_message* reply = host_api->message_new(host);
  bw_str reply_body = {text, plen + body.size};
  host_api->message_set_body(reply, reply_body, s("text/plain"));
  free(text);
  host_api->sending_complete(sending, BW_OK, reply, s(""));
  return BW_PENDING;
}

static const bw_endpoint_api echo_endpoint = {
    sizeof(bw_endpoint_api), ECHO_SCHEME, ep_create, ep_destroy, ep_start, ep_stop, ep_send};
static const bw_endpoint_api* const endpoints[] = {&echo_endpoint};

static bw_status init(const bw_host_api* api, bw_host* h, const bw_option* config, size_t n,
                      void** state, bw_error* error) {
  host_api = api;
  host = h;
  /* Each option of its own it was given, as a counter "config NAME=VALUE", for the tests. */
  for (size_t i = 0; i < n; ++i) {
    char name[160];
    const int len = snprintf(name, sizeof name, "config %.*s=%.*s", (int)config[i].name.size,
                             config[i].name.data, (int)config[i].value.size, config[i].value.data);
    if (len > 0 && (size_t)len < sizeof name) api->metric_add(h, s(name), 1.0);
  }
  *state = NULL;
#ifdef ECHO_FAIL_INIT
  set_error(error, "cannot reach the echo licence server (test plugin built to fail)");
  return BW_ERR_TRANSIENT;
#else
  (void)error;
  api->log(h, 2, s("echo plugin ready"));
  return BW_OK;
#endif
}

static void drain(void* state, uint64_t timeout_ms) {
  (void)state;
  (void)timeout_ms;
}
static void destroy(void* state) { (void)state; }

static const bw_plugin_descriptor descriptor = {sizeof(bw_plugin_descriptor),
                                                ECHO_ABI_MAJOR,
                                                ECHO_ABI_MINOR,
                                                ECHO_ID,
                                                "1.0.0",
                                                init,
                                                drain,
                                                destroy,
                                                endpoints,
                                                1,
                                                NULL,
                                                0,
                                                NULL,
                                                0};

#ifndef ECHO_NO_ENTRY
BW_EXPORT const bw_plugin_descriptor* busway_plugin_entry(uint32_t major, uint32_t minor) {
  (void)major;
  (void)minor;
  return &descriptor;
}
#else
/* Keeps the descriptor referenced so the build does not warn. */
const bw_plugin_descriptor* echo_unexported_descriptor(void) { return &descriptor; }
#endif
