// sentences.h: the pieces of a page's text that rule-based questions are made of:
// whole sentences of paragraph blocks, and the one number a sentence states.
//
// A usable sentence (what a question can quote and a reader can find):
//   - it lies within one block, with no word broken across lines by a hyphen;
//   - it starts with a capital letter (A-Z) and ends with '.', '!' or '?';
//   - it has 40-300 bytes and at least 6 words, 70% or more of its visible characters
//     are letters, and its brackets balance.
// Sentences end at '.', '!' or '?' followed by a space and a capital letter, so "e.g. a"
// and "Fig. 3" do not end one. The rules read Latin script only: other scripts give none.
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct sentence_list {
    char **v;   // each malloc'd, its whitespace made single spaces
    int n, cap;
};

// Appends the usable sentences of a block's text (lines joined by '\n') to l.
void sentences_of_block(const char *text, struct sentence_list *l);
void sentence_list_free(struct sentence_list *l);

// A block's text with each run of whitespace made one space (malloc'd).
char *text_one_line(const char *text);

// The one number a sentence states: an integer or decimal standing alone as a word
// ("3", "12.5", "1,024", "42%") in prose, after a lowercase word ("been 3 deaths"), not a
// label ("Figure 3", "page 7") or a symbol's index ("H 0"). false when the sentence has
// no such number or more than one number of any kind. *at and *len: where its digits are in s; *decimals:
// its digits after the point.
bool sentence_number(const char *s, double *value, size_t *at, size_t *len, int *decimals);

// The first n_words words of s (malloc'd), and in *rest where the remainder starts.
char *sentence_head(const char *s, int n_words, const char **rest);
int sentence_words(const char *s);
