// SHA-256 (models/sha256.c) against the FIPS 180-2 / NIST example digests, fed whole and
// in awkward pieces (1, 63, 64, 65 bytes) so the block buffering is exercised, plus the
// file helper and its error path.
#include "test-util.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>

static void digest_pieces(const char *msg, size_t n, size_t piece, char hex[65]) {
    struct sha256 s;
    uint8_t d[32];
    sha256_init(&s);
    for (size_t i = 0; i < n; i += piece) sha256_update(&s, msg + i, n - i < piece ? n - i : piece);
    sha256_final(&s, d);
    sha256_hex(d, hex);
}

int main(void) {
    static const struct { const char *msg, *want; } cases[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    char hex[65];
    size_t pieces[] = { 1, 63, 64, 65, 1 << 20 };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
            digest_pieces(cases[c].msg, strlen(cases[c].msg), pieces[p], hex);
            check(!strcmp(hex, cases[c].want), "'%.10s...' in pieces of %zu: %s", cases[c].msg, pieces[p], hex);
        }
    size_t n = 1000000;   // one million 'a'
    char *a = malloc(n);
    memset(a, 'a', n);
    for (size_t p = 0; p < 3; p++) {
        digest_pieces(a, n, pieces[p + 1], hex);
        check(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
              "a million 'a' in pieces of %zu: %s", pieces[p + 1], hex);
    }
    char path[] = "/tmp/longvl-sha256-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "wb");
    fwrite(a, 1, n, f);
    fclose(f);
    uint8_t d[32];
    char err[256];
    check(sha256_file(path, d, err, sizeof err), "sha256_file reads the file");
    sha256_hex(d, hex);
    check(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256_file: %s", hex);
    remove(path);
    check(!sha256_file(path, d, err, sizeof err) && strstr(err, "No such file"), "a missing file is an error: %s", err);
    free(a);
    return test_summary("test-sha256");
}
