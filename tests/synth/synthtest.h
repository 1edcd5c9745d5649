/* synthtest.h — helpers shared by the synth tests: manifest fields and file comparison. */
#ifndef MV_SYNTHTEST_H
#define MV_SYNTHTEST_H

#include <stddef.h>
#include <stdint.h>

/* golden/<case>/manifest.json top-level string field into out; 0 on success. */
int synth_manifest_str(const char *case_name, const char *key, char *out, size_t cap);
/* golden/<case>/manifest.json top-level integer field; 0 on success. */
int synth_manifest_u64(const char *case_name, const char *key, uint64_t *out);
/* 1 when both files exist and hold the same bytes. */
int synth_files_equal(const char *a, const char *b);

#endif
