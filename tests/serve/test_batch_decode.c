/* mv_batch_decode: several sessions decoded together (one forward pass per step over their separate
 * KV caches, different prompt lengths, one with an image) give exactly the tokens each gives alone
 * with mv_session_chat; sessions that finish early drop out of the batch; ending an active session
 * cancels it; bad arguments are refused. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N = 4 };

static const char *PROMPTS[N] = { "Hello", "Tell me about cats and dogs, at length please.", "1 2 3", "Describe the image." };
static const int MAX_NEW[N] = { 12, 20, 3, 9 };

int main(void) {
    mv_model *model = NULL;
    mv_error err = { 0 };
    mv_model_params mp = mv_model_default_params();
    mp.n_threads = 2;
    mp.context_length = 4096;
    CHECK_OK(mv_model_load(mvt_build("models/tiny-qwen2"), &mp, &model, &err), &err);
    mv_image *img = NULL;
    CHECK_OK(mv_image_load_file(mvt_shared("golden/images/chelsea.png"), 0, &img, &err), &err);
    const mv_image *imgs[1] = { img };
    mv_message msgs[N];
    mv_generate_params gp[N];
    for (int i = 0; i < N; i++) {
        msgs[i] = (mv_message){ MV_ROLE_USER, PROMPTS[i], i == 3 ? imgs : NULL, i == 3 };
        gp[i] = mv_generate_default_params();
        gp[i].max_new_tokens = MAX_NEW[i];
        gp[i].max_tiles = 2;
    }
    mv_session *s[N];
    mv_result alone[N], together[N];
    for (int i = 0; i < N; i++) {
        CHECK_OK(mv_session_create(model, &s[i], &err), &err);
        CHECK_OK(mv_session_chat(s[i], &msgs[i], 1, &gp[i], &alone[i], &err), &err);
    }
    /* Fresh sessions so that no prefix is reused: the batch must prefill and decode from scratch. */
    for (int i = 0; i < N; i++) {
        mv_session_free(s[i]);
        CHECK_OK(mv_session_create(model, &s[i], &err), &err);
        CHECK_OK(mv_session_begin(s[i], &msgs[i], 1, &gp[i], &err), &err);
    }
    int steps = 0;
    for (;;) {
        int active = 0;
        for (int i = 0; i < N; i++) active += mv_session_active(s[i]);
        if (!active) break;
        CHECK_OK(mv_batch_decode(s, N, &err), &err);
        steps++;
    }
    CHECK(steps == 20, "the batch runs as long as its longest member (%d steps)", steps);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mv_session_end(s[i], &together[i], &err), &err);
        CHECK(together[i].n_output_ids == alone[i].n_output_ids &&
              memcmp(together[i].output_ids, alone[i].output_ids, alone[i].n_output_ids * sizeof(int32_t)) == 0,
              "session %d: batched tokens equal the single-session tokens", i);
        CHECK(strcmp(together[i].text, alone[i].text) == 0, "session %d: same text", i);
        CHECK(together[i].finish == MV_FINISH_LENGTH, "session %d: finish length", i);
        mv_result_free(&together[i]);
        mv_result_free(&alone[i]);
    }
    /* Ending an active generation cancels it and leaves the session usable. */
    CHECK_OK(mv_session_begin(s[0], &msgs[0], 1, &gp[0], &err), &err);
    CHECK(mv_batch_decode(s, 1, &err) == MV_OK, "one step");
    mv_result r;
    CHECK_OK(mv_session_end(s[0], &r, &err), &err);
    CHECK(r.finish == MV_FINISH_CANCELLED && r.n_output_ids == 1, "end before the last token cancels (finish %d, %zu ids)", r.finish,
          r.n_output_ids);
    mv_result_free(&r);
    CHECK(mv_session_end(s[0], &r, &err) == MV_ERR_ARG, "end without begin is refused");
    CHECK_OK(mv_session_begin(s[0], &msgs[0], 1, &gp[0], &err), &err);
    CHECK(mv_session_begin(s[0], &msgs[0], 1, &gp[0], &err) == MV_ERR_ARG, "begin twice is refused");
    mv_session *dup[2] = { s[0], s[0] };
    CHECK(mv_batch_decode(dup, 2, &err) == MV_ERR_ARG, "a session listed twice is refused");
    for (int i = 0; i < N; i++) mv_session_free(s[i]); /* frees the generation still begun on s[0] */
    mv_image_free(img);
    mv_model_free(model);
    return mvt_done("test_batch_decode");
}
