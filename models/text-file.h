// Small text files (JSON, templates) read whole.
#pragma once

#include <stddef.h>

// The file's bytes plus a NUL; NULL with a message (naming the path) if it cannot be
// read or is larger than max bytes. Free with free().
char *read_text_file(const char *path, size_t max, char *err, size_t errlen);

// A JSON file whose top level is an object; NULL with a message naming the path if it
// cannot be read, is not JSON or is not an object. Free with cJSON_Delete.
struct cJSON *read_json_object(const char *path, size_t max, char *err, size_t errlen);
