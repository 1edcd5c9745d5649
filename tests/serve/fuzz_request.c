/* fuzz_request.c — libFuzzer target over the server's request parsing (bytes → serve_request or an
 * error): no input may crash, leak or make the parser read out of bounds. Local files are refused
 * and images are capped at 64 kilopixels so data: URLs stay cheap to decode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "serve_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const serve_limits lim = { "tiny", 1u << 16, NULL, 6, 12 };
    serve_request r;
    serve_error e;
    if (serve_parse_request((const char *)data, size, &lim, &r, &e) == 0) serve_request_free(&r);
    else free(serve_error_json(&e));
    return 0;
}
