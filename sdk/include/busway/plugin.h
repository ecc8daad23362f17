/*
 * busway plugin ABI, version 1.0.
 *
 * The only interface between the bus and a plugin. It is C on purpose: no C++ types, no
 * exceptions and no allocator cross it, so a plugin built with another compiler or standard
 * library still loads. Vendors normally use the C++ layer in busway/plugin.hpp on top.
 *
 * Rules that keep the ABI stable (see docs/plugin-guide.md):
 *  - Every struct that crosses starts with `struct_size`; a reader uses only the fields
 *    that fit in the size it was given. The exceptions are the value types bw_str and
 *    bw_status, fixed for the whole major version. Minor versions only append fields (and functions
 *    at the end of function tables); anything else is a major version.
 *  - A plugin built for ABI major M and minor m loads on a host with major M and minor >= m.
 *  - Strings passed in are UTF-8, not necessarily NUL-terminated: each comes with a length
 *    (bw_str). Strings passed out live at least until the call returns unless said otherwise.
 *  - Ownership is in the names: *_borrowed stays the caller's, *_owned passes to the callee.
 *  - Thread-safety is stated on every function table.
 *  - Arrays of structs (bw_option) are indexed by sizeof of the struct as released: such
 *    structs never grow within a major version (an added field there is a major change).
 *  - Completion callbacks may run before the call that started the work has returned: a
 *    delivery's done callback before deliver() returns, a sending_complete before send()
 *    returns. Code for both orders.
 */
#ifndef BUSWAY_PLUGIN_H
#define BUSWAY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BW_ABI_MAJOR 1
#define BW_ABI_MINOR 0

#if defined(__GNUC__)
#define BW_EXPORT __attribute__((visibility("default")))
#else
#define BW_EXPORT
#endif

/* The symbol every plugin exports. */
#define BW_ENTRY_SYMBOL "busway_plugin_entry"
/* The ELF section holding the plugin's manifest (JSON), read without loading the file. */
#define BW_MANIFEST_SECTION ".busway_manifest"

/* ---------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------- */
/* A fixed-size integer, not an enum type: an enum's size is the compiler's choice. Unknown
 * error values (from a newer minor version) are treated as BW_ERR_PERMANENT. */
typedef int32_t bw_status;
enum {
  BW_OK = 0,
  BW_PENDING = 1,        /* the operation goes on; completion is reported later */
  BW_ERR_TRANSIENT = 10, /* worth retrying: a peer is down, a timeout, a full buffer */
  BW_ERR_PERMANENT = 11, /* retrying will not help: the peer refused this message */
  BW_ERR_INVALID = 12,   /* bad input: a malformed message or option */
  BW_ERR_TIMEOUT = 13,
  BW_ERR_REJECTED = 14,   /* back-pressure: the peer is full */
  BW_ERR_UNSUPPORTED = 15 /* the plugin does not offer this (e.g. consuming from a sink) */
};

/* A borrowed UTF-8 string with its length. */
typedef struct bw_str {
  const char* data;
  size_t size;
} bw_str;

/* Where a callee writes an error message for people (what went wrong, and what to do).
 * The caller owns the buffer; the callee writes at most `capacity` bytes including a NUL. */
typedef struct bw_error {
  uint32_t struct_size;
  char* message;
  size_t capacity;
} bw_error;

/* One option of an endpoint URI or a plugin configuration, already checked against the
 * manifest's option schema (types, required, defaults applied). Values are text. */
typedef struct bw_option {
  uint32_t struct_size;
  bw_str name;
  bw_str value;
} bw_option;

/* ---------------------------------------------------------------------------------------
 * Handles owned by the host. Opaque to the plugin.
 * ------------------------------------------------------------------------------------- */
typedef struct bw_message bw_message;   /* a message: body, headers, ids */
typedef struct bw_delivery bw_delivery; /* a message a consumer handed to the bus */
typedef struct bw_sending bw_sending;   /* a message the bus asked a producer to send */
typedef struct bw_host bw_host;         /* the host's side of one loaded plugin */
typedef struct bw_route bw_route;       /* where a consumer delivers (one per started consumer) */

/* Called by the host when the bus has finished with a delivered message: this is the
 * acknowledgement. BW_OK: the message was fully processed or is safe in the durable store,
 * so the plugin may acknowledge it to its source (commit the offset, ack the broker, move
 * the file to done, send the HTTP reply). Anything else: the bus could not take it; the
 * plugin must leave it with its source for redelivery (nack/requeue, leave the file) and
 * may report `error_borrowed` to its peer.
 * `reply_borrowed` is the reply for request-reply deliveries (NULL otherwise); valid only
 * during the call. Called exactly once per delivery, on any thread. */
typedef void (*bw_delivery_done_fn)(void* context, bw_status status,
                                    const bw_message* reply_borrowed, bw_str error_borrowed);

/* ---------------------------------------------------------------------------------------
 * What the host offers the plugin. Every function may be called from any thread, at any
 * time between the plugin's init and destroy, unless said otherwise.
 * ------------------------------------------------------------------------------------- */
typedef struct bw_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;

  /* Logging: level 0 trace, 1 debug, 2 info, 3 warn, 4 error. */
  void (*log)(bw_host* host, int level, bw_str message);

  /* Messages. A message from message_new is owned by the plugin until it is passed on
   * (deliver) or freed (message_free); message_new returns NULL when out of memory.
   * Strings returned point into the message and stay valid until it is changed or freed.
   * Setters accept strings that point into the same message. */
  bw_message* (*message_new)(bw_host* host);
  void (*message_free)(bw_message* message_owned);
  bw_str (*message_body)(const bw_message* message);
  bw_str (*message_media_type)(const bw_message* message);
  bw_status (*message_set_body)(bw_message* message, bw_str body, bw_str media_type);
  bw_str (*message_id)(const bw_message* message);
  bw_str (*message_correlation_id)(const bw_message* message);
  bw_status (*message_set_correlation_id)(bw_message* message, bw_str id);
  size_t (*message_header_count)(const bw_message* message);
  /* Header `index` (0..count-1) as text; 0 when out of range. */
  int (*message_header_at)(const bw_message* message, size_t index, bw_str* name, bw_str* value);
  /* The header as text; 0 when absent. Names compare case-insensitively. */
  int (*message_header_get)(const bw_message* message, bw_str name, bw_str* value);
  bw_status (*message_header_set)(bw_message* message, bw_str name, bw_str value);
  bw_status (*message_header_set_int)(bw_message* message, bw_str name, int64_t value);
  bw_status (*message_header_remove)(bw_message* message, bw_str name);

  /* Consumers: hand a message to the route. `in_out` non-zero asks for a reply. The host
   * takes ownership of `message_owned` whatever the result. Returns BW_OK when accepted;
   * `done` is then called exactly once (see bw_delivery_done_fn). Any other result means
   * the bus refused it at once (stopped, full): `done` is not called and the message stays
   * the source's to redeliver. */
  bw_status (*deliver)(bw_route* route, bw_message* message_owned, int in_out,
                       bw_delivery_done_fn done, void* done_context);

  /* Producers: finish a send that returned BW_PENDING. `reply_owned` (or NULL) becomes the
   * reply for request-reply sends; the host takes it. Exactly once per pending send. */
  void (*sending_complete)(bw_sending* sending, bw_status status, bw_message* reply_owned,
                           bw_str error);
  /* The message being sent (borrowed; valid until send returns or, for BW_PENDING, until
   * sending_complete). The plugin may change it: for a request-reply send that returns
   * BW_OK, the changed message is the reply. */
  bw_message* (*sending_message)(bw_sending* sending);
  int (*sending_wants_reply)(const bw_sending* sending);

  /* Timers on the bus's thread pool: `fn(context)` runs once after `delay_ms`. Timers still
   * pending when the plugin is destroyed are dropped without calling `fn` (free their
   * contexts in destroy); none runs during or after destroy. */
  bw_status (*schedule)(bw_host* host, uint64_t delay_ms, void (*fn)(void* context), void* context);

  /* Metrics: adds `value` to the counter `name` (prefixed with the plugin id). */
  void (*metric_add)(bw_host* host, bw_str name, double value);
} bw_host_api;

/* ---------------------------------------------------------------------------------------
 * What the plugin offers.
 * ------------------------------------------------------------------------------------- */

/* An endpoint kind: consumer and/or producer for one URI scheme.
 * Thread-safety: create/destroy/start/stop are called from the bus's control thread, one
 * at a time; send is called concurrently from the bus's worker threads. */
typedef struct bw_endpoint_api {
  uint32_t struct_size;
  const char* scheme; /* e.g. "acme-erp" */

  /* Makes an endpoint for `uri` with its checked options. *endpoint_out is the plugin's. */
  bw_status (*create)(void* plugin_state, bw_str uri, bw_str path, const bw_option* options,
                      size_t option_count, void** endpoint_out, bw_error* error);
  void (*destroy)(void* endpoint);

  /* Consumer side (NULL when the endpoint only sends). start: begin delivering to `route`;
   * each endpoint has at most one started consumer at a time, and start is not called
   * again before stop. stop: stop taking new messages; deliveries already made still
   * complete through their done callbacks. After stop returns, deliver must not be called
   * for this consumer (the host refuses it with BW_ERR_REJECTED if it is). */
  bw_status (*start)(void* endpoint, bw_route* route, void** consumer_out, bw_error* error);
  void (*stop)(void* consumer);

  /* Producer side (NULL when the endpoint only consumes). The message is
   * host->sending_message(sending). Returns:
   *  - BW_OK: sent, no reply (a request-reply caller gets the message back unchanged);
   *  - BW_PENDING: the plugin calls host->sending_complete(sending, ...) exactly once, now
   *    (even before returning) or later from any thread; that call carries the reply;
   *  - an error, with `error` filled in: not sent. */
  bw_status (*send)(void* endpoint, bw_sending* sending, bw_error* error);
} bw_endpoint_api;

/* A data format: converts between a wire format and a message body (e.g. CSV <-> JSON).
 * Thread-safety: marshal/unmarshal are called concurrently. */
typedef struct bw_format_api {
  uint32_t struct_size;
  const char* name; /* e.g. "csv" */
  bw_status (*create)(void* plugin_state, const bw_option* options, size_t option_count,
                      void** format_out, bw_error* error);
  void (*destroy)(void* format);
  /* Message body -> wire format, in place on `message`. */
  bw_status (*marshal)(void* format, bw_message* message, bw_error* error);
  /* Wire format -> message body, in place. */
  bw_status (*unmarshal)(void* format, bw_message* message, bw_error* error);
} bw_format_api;

/* A transformer: changes a message in place (<transform ref="name"/>).
 * Thread-safety: apply is called concurrently. */
typedef struct bw_transformer_api {
  uint32_t struct_size;
  const char* name;
  bw_status (*create)(void* plugin_state, const bw_option* options, size_t option_count,
                      void** transformer_out, bw_error* error);
  void (*destroy)(void* transformer);
  bw_status (*apply)(void* transformer, bw_message* message, bw_error* error);
} bw_transformer_api;

/* The descriptor a plugin returns from its entry point. Static data: it must stay valid
 * until the library is unloaded.
 * Lifecycle: init (once, after loading) -> endpoints/formats/transformers created and used
 * -> drain (stop taking work, finish what is in flight, within the host's time limit) ->
 * destroy (once, nothing of the plugin is used after it). */
typedef struct bw_plugin_descriptor {
  uint32_t struct_size;
  uint32_t abi_major; /* BW_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;
  const char* id;      /* must equal the manifest's id */
  const char* version; /* must equal the manifest's version */

  bw_status (*init)(const bw_host_api* host_api, bw_host* host, const bw_option* config,
                    size_t config_count, void** plugin_state_out, bw_error* error);
  void (*drain)(void* plugin_state, uint64_t timeout_ms);
  void (*destroy)(void* plugin_state);

  const bw_endpoint_api* const* endpoints;
  size_t endpoint_count;
  const bw_format_api* const* formats;
  size_t format_count;
  const bw_transformer_api* const* transformers;
  size_t transformer_count;
} bw_plugin_descriptor;

/* The entry point. The host passes its own ABI version; a plugin may refuse (return NULL)
 * if the host is too old for it. Must not do anything but return the descriptor: no
 * threads, no I/O (that is what init is for). */
typedef const bw_plugin_descriptor* (*bw_plugin_entry_fn)(uint32_t host_abi_major,
                                                          uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* BUSWAY_PLUGIN_H */
