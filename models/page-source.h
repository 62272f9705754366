// page-source.h: the pictures the model looks at, as 8-bit RGB: PDF pages rendered by
// MuPDF at a chosen resolution, and PNG/JPEG (or any format MuPDF decodes) image files.
//
// Every MuPDF failure (a broken file, a wrong password, a page too large to render)
// comes back as false/NULL with a message; nothing here aborts on bad input. A
// pdf_document is not thread-safe: render its pages from one thread.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// [h][w][3] bytes, row-major, no padding.
struct rgb_image {
    int      w, h;
    uint8_t *px;
};
void rgb_image_free(struct rgb_image *im);

// Rendering refuses pages of more pixels than this (a 1 x 1 m poster at 144 dpi is
// 32 Mpx); the model downsizes anything above 12.8 Mpx anyway.
#define PAGE_SOURCE_MAX_PIXELS (160LL * 1000 * 1000)

struct pdf_document;

// Opens a PDF (password: NULL or the user/owner password). An encrypted file without
// the right password is an error that says so.
struct pdf_document *pdf_document_open(const char *path, const char *password, char *err, size_t errlen);
void pdf_document_close(struct pdf_document *d);
int pdf_document_page_count(const struct pdf_document *d);

// Renders page `page` (0-based) at dpi dots per inch on white; MuPDF rounds the scaled
// page box outward to whole pixels.
bool pdf_document_render(struct pdf_document *d, int page, float dpi, struct rgb_image *out, char *err,
                         size_t errlen);
// The pixel size a page renders to at dpi, without rendering it.
bool pdf_document_page_size(struct pdf_document *d, int page, float dpi, int *w, int *h, char *err, size_t errlen);

// Decodes an image file (PNG, JPEG, ...) to RGB; gray, CMYK and palettes are converted,
// transparency is composited over white.
bool image_file_load(const char *path, struct rgb_image *out, char *err, size_t errlen);

// Writes an image as PNG (to path.tmp, renamed into place), for looking at what the
// model is given.
bool rgb_image_save_png(const struct rgb_image *im, const char *path, char *err, size_t errlen);
