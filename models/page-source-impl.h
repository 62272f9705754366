// page-source-impl.h: the MuPDF state behind a pdf_document, for the files that read
// more of a page than its pixels (page-text.c). Private to models/.
#pragma once

#include "page-source.h"

#include <mupdf/fitz.h>

struct pdf_document {
    fz_context *ctx;
    fz_document *doc;
    int n_pages;
    char path[512];
};

// Page `page` (0-based), or NULL with a message naming the file and page.
fz_page *pdf_document_load_page(struct pdf_document *d, int page, char *err, size_t errlen);
