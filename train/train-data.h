// train-data.h: what train-longpt reads: instances (tokens, and which of them are the
// answer the loss is on) from a source, packed into sequences of at most seq_len tokens.
//
// Sources, named as on the command line (--data):
//   retrieval:pages=P,page-len=L,facts=F,keys=K,values=V,seed=S
//       the synthetic long-context retrieval task: P pages of L tokens of random
//       distractor words, F "key: value" facts hidden at random places among them, and at
//       the end a question naming one key, whose answer is its value and an end token.
//       Instance i is generated from (seed, i) alone; without end. seed defaults to the
//       run's --seed.
//   FILE.jsonl
//       one instance a line: {"input_ids": [...], "labels": [...]} with HuggingFace's
//       meaning: labels[i] = -100 leaves token i out of the loss, any other value marks it
//       an answer token (and must equal input_ids[i]). The file is read in order, again
//       and again (the data cursor counts instances across epochs): in file order with
//       seed 0, otherwise each epoch in its own order drawn from (seed, epoch).
//       An instance may look at pictures:
//           "images": [{"pdf": "doc.pdf", "page": 3}, {"image": "figure.png"}]
//       (pages from 1; paths relative to the JSONL file's folder), each standing at one
//       <|image_pad|> token of input_ids, in order, labelled -100. Reading the instance
//       widens each such token to the picture's lh x lw merged vision rows (its size at
//       the run's rendering settings, train-pictures.h) and gives it its mRoPE grid.
// The data cursor is the index of the next instance: a checkpoint stores it, and resuming
// from it reads exactly the instances an uninterrupted run would.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// A picture an instance looks at: page `page` (0-based) of a PDF, or an image file (page
// -1), whose lh x lw merged vision rows stand at tokens [start, start + lh * lw).
struct train_picture {
    char   *path;
    int     page;
    int64_t start;
    int32_t lh, lw;
};

struct train_instance {
    int32_t *ids;
    uint8_t *answer;   // 1: an answer token, predicted from the tokens before it
    int64_t  n, cap;
    struct train_picture *pics;   // in order of start
    int n_pics, pics_cap;
};
void train_instance_free(struct train_instance *in);

struct train_source;
struct train_pictures;
// NULL with a message for a spec that is neither a valid retrieval spec nor a readable
// JSONL file of instances (the file's first bad line is named). pictures sizes the
// pictures instances look at (NULL: the data may have none).
struct train_source *train_source_open(const char *spec, int64_t n_vocab, uint64_t seed,
                                       struct train_pictures *pictures, char *err, size_t errlen);
void train_source_free(struct train_source *s);
const char *train_source_spec(const struct train_source *s);
// Instance `index` (any non-negative number; a file wraps around).
bool train_source_get(struct train_source *s, int64_t index, struct train_instance *out, char *err,
                      size_t errlen);
// Instances to evaluate on that training never reads (the retrieval task's: another
// index range; NULL for a file, which has no held-out part).
bool train_source_has_heldout(const struct train_source *s);
bool train_source_get_heldout(const struct train_source *s, int64_t index, struct train_instance *out, char *err,
                              size_t errlen);

// One packed sequence: instances one after the other, each attending only to itself
// (seg), each with its own mRoPE positions from 0 (text: the t, h and w streams equal).
struct train_pack {
    int64_t  n, cap;
    int32_t *ids, *seg, *pos;   // pos: [3][n], the t, h and w streams
    int32_t *next;              // the token each position predicts, -1: no loss there
    int32_t *rows, *targets;    // the R positions with a loss, and their targets
    int64_t  n_rows;
    int      n_instances;
    struct train_picture *pics; // the instances' pictures, start counted in the pack
    int      n_pics, pics_cap;
    int32_t *pos_cap;           // [3][cap]: the positions while the pack grows (scratch)
};
void train_pack_init(struct train_pack *p, int64_t seq_len);
void train_pack_free(struct train_pack *p);
// Empties p and appends instances from *cursor on while they fit; *cursor moves past
// those taken. An instance longer than seq_len, or with no answer token, is an error.
bool train_pack_fill(struct train_pack *p, struct train_source *s, int64_t *cursor, char *err,
                     size_t errlen);
// Packs built one instance at a time (evaluation, tests): empty it, then add instances;
// an instance that does not fit in the room left, or has no answer token, is an error.
void train_pack_clear(struct train_pack *p);
bool train_pack_add(struct train_pack *p, const struct train_instance *in, char *err, size_t errlen);
