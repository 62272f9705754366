// `--device`; see device-args.h.
#include "device-args.h"

#include <stdio.h>
#include <string.h>

bool device_args_parse(const char *verb, const char *value, bool *vulkan) {
    if (!strcmp(value, "cpu") || !strcmp(value, "vulkan")) {
        *vulkan = !strcmp(value, "vulkan");
        return true;
    }
    fprintf(stderr, "longvl %s: --device takes cpu or vulkan, not '%s'\n", verb, value);
    return false;
}

struct tl_vk_backend *device_args_open(bool vulkan, bool quiet, bool *ok, char *err, size_t errlen) {
    *ok = true;
    if (!vulkan) return NULL;
    struct tl_vk_backend *vk = tl_vk_backend_new(-1, err, errlen);
    if (!vk) {
        *ok = false;
        return NULL;
    }
    const struct tl_vk_device_info *info = tl_vk_backend_info(vk);
    if (!quiet) fprintf(stderr, "vulkan: %s (%s, Vulkan %u.%u)\n", info->name, info->type, info->api_major, info->api_minor);
    return vk;
}
