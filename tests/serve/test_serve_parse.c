/* serve_parse_request: the chat-completions body → conversation + generation parameters, or an
 * OpenAI-shaped error with the right status, param and code. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "serve_request.h"
#include "testutil.h"

static serve_limits LIM = { "tiny", 1u << 20, NULL, 6, 12 };

static int parse(const char *body, serve_request *r, serve_error *e) { return serve_parse_request(body, strlen(body), &LIM, r, e); }

static void expect_error(const char *body, int http, const char *code, const char *param) {
    serve_request r;
    serve_error e = { 0 };
    int rc = parse(body, &r, &e);
    CHECK(rc == -1 && e.http == http, "%s -> HTTP %d (got rc %d, %d: %s)", body, http, rc, e.http, e.message);
    CHECK(code ? e.code && !strcmp(e.code, code) : !e.code, "%s -> code %s (got %s)", body, code ? code : "null", e.code ? e.code : "null");
    CHECK(!strcmp(e.param, param), "%s -> param '%s' (got '%s')", body, param, e.param);
    char *json = serve_error_json(&e);
    cJSON *j = cJSON_Parse(json), *o = cJSON_GetObjectItem(j, "error");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "message")) && cJSON_IsString(cJSON_GetObjectItem(o, "type")) &&
          cJSON_GetObjectItem(o, "param") && cJSON_GetObjectItem(o, "code"), "error JSON shape: %s", json);
    cJSON_Delete(j);
    free(json);
}

int main(void) {
    serve_request r;
    serve_error e;
    CHECK(parse("{\"model\":\"tiny\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                "{\"type\":\"text\",\"text\":\"b\"}]}],\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":3,\"seed\":42,"
                "\"stop\":[\"x\",\"yz\"],\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\"}", &r, &e) == 0,
          "a full request parses: %s", e.message);
    CHECK(r.conv.n_msgs == 2 && r.conv.msgs[0].role == MV_ROLE_SYSTEM && !strcmp(r.conv.msgs[1].text, "a\nb"), "messages");
    CHECK(r.gp.max_new_tokens == 7 && r.gp.sampling.temperature == 0.5f && r.gp.sampling.top_p == 0.9f && r.gp.sampling.top_k == 3 &&
          r.gp.sampling.seed == 42, "sampling fields");
    CHECK(r.gp.n_stop == 2 && !strcmp(r.gp.stop[1], "yz") && r.stream && r.include_usage, "stop, stream, include_usage");
    CHECK(r.gp.max_tiles == 6, "default tiles from the server");
    serve_request_free(&r);

    CHECK(parse("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":\"END\",\"top_k\":5,\"temperature\":null}", &r, &e) == 0, "%s", e.message);
    CHECK(r.gp.n_stop == 1 && r.gp.sampling.temperature == 1.0f && r.gp.max_new_tokens == 512 && !r.stream,
          "stop string; top_k alone samples at temperature 1; defaults");
    serve_request_free(&r);
    CHECK(parse("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:x\",\"detail\":\"high\"}}]}]}", &r, &e) == -1 &&
          !strcmp(e.code, "invalid_image"), "detail is read before images load; a bad data URL is invalid_image");

    expect_error("", 400, "invalid_json", "");
    expect_error("{\"model\":", 400, "invalid_json", "");
    expect_error("[]", 400, "invalid_json", "");
    expect_error("{\"messages\":[]}", 400, "missing_required_parameter", "model");
    expect_error("{\"model\":7,\"messages\":[]}", 400, "invalid_value", "model");
    expect_error("{\"model\":\"gpt\",\"messages\":[]}", 404, "model_not_found", "model");
    expect_error("{\"model\":\"tiny\"}", 400, "missing_required_parameter", "messages");
    expect_error("{\"model\":\"tiny\",\"messages\":{}}", 400, "invalid_type", "messages");
    expect_error("{\"model\":\"tiny\",\"messages\":[]}", 400, "invalid_value", "messages");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\"}]}", 400, "invalid_value", "messages");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":0}", 400, "invalid_value", "max_tokens");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":\"5\"}", 400, "invalid_value", "max_tokens");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":3}", 400, "invalid_value", "temperature");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_p\":true}", 400, "invalid_value", "top_p");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"seed\":0.5}", 400, "invalid_value", "seed");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"\"]}", 400, "invalid_value", "stop");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream_options\":[]}", 400, "invalid_value", "stream_options");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":2}", 400, "unsupported_value", "n");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tiles\":65}", 400, "invalid_value", "max_tiles");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"/etc/passwd\"}}]}]}", 400, "invalid_value", "messages");
    expect_error("{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:,\",\"detail\":\"max\"}}]}]}", 400, "invalid_value", "detail");
    return mvt_done("test_serve_parse");
}
