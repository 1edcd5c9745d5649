/* serve_http.h — the HTTP side of `minivl serve` on libmicrohttpd (one thread per connection):
 * routing, API key, body limit, JSON and server-sent-event responses, disconnect detection. */
#ifndef MV_TOOLS_SERVE_HTTP_H
#define MV_TOOLS_SERVE_HTTP_H

#include <stdatomic.h>
#include <stddef.h>

#include "serve_engine.h"
#include "serve_request.h"

typedef struct serve_ctx {
    serve_limits lim;
    const char *api_key;          /* NULL: no key needed */
    size_t max_body;              /* bytes */
    serve_engine *_Atomic engine; /* NULL until the model is loaded */
    atomic_int ready;
    atomic_int in_flight;         /* chat requests not yet completed */
    atomic_ulong next_id;
    long started;                 /* Unix seconds */
} serve_ctx;

struct MHD_Daemon;
/* Listen on host:port (port 0: any free port, *bound_port tells which). NULL on failure (why in msg). */
struct MHD_Daemon *serve_http_start(serve_ctx *ctx, const char *host, int port, int *bound_port, char *msg, size_t msg_len);
/* Stop accepting connections (the open ones go on); returns the listen socket for serve_http_stop. */
int serve_http_quiesce(struct MHD_Daemon *d);
void serve_http_stop(struct MHD_Daemon *d, int listen_fd);

#endif
