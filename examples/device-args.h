// device-args.h: `--device cpu|vulkan` of the verbs that compute. Vulkan picks the device
// from LONGVL_VK_DEVICE (an index from `longvl info --devices`) or the first discrete GPU.
#pragma once

#include "tl-vulkan.h"

#include <stdbool.h>

#define DEVICE_ARGS_USAGE "  --device cpu|vulkan   where to compute (default cpu; LONGVL_VK_DEVICE picks the GPU)\n"

// false (said on stderr) for anything but cpu or vulkan
bool device_args_parse(const char *verb, const char *value, bool *vulkan);
// The Vulkan backend when asked for (its name on stderr unless quiet), NULL for the CPU;
// *ok false when Vulkan was asked for and cannot start (err says why).
struct tl_vk_backend *device_args_open(bool vulkan, bool quiet, bool *ok, char *err, size_t errlen);
