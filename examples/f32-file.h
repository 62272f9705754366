// Raw little-endian float32 files, the interchange format of the debugging verbs
// (logits, vision): no header, the shape is given on the command line.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Reads exactly n floats; a file of any other size is an error naming both sizes.
float *f32_file_read(const char *path, int64_t n, char *err, size_t errlen);
// Writes n floats to PATH.tmp and renames it into place, so a failed run leaves no file.
bool f32_file_write(const char *path, const float *v, int64_t n, char *err, size_t errlen);
