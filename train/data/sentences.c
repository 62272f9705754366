// Sentences and the numbers they state (sentences.h).
#include "sentences.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

char *text_one_line(const char *text) {
    char *out = malloc(strlen(text) + 1), *o = out;
    if (!out) abort();
    for (const char *c = text; *c; c++) {
        if (!is_space(*c)) *o++ = *c;
        else if (o > out && o[-1] != ' ' && c[1] && !is_space(c[1])) *o++ = ' ';
    }
    *o = 0;
    return out;
}

void sentence_list_free(struct sentence_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int sentence_words(const char *s) {
    int n = 0;
    for (const char *c = s; *c; c++) n += !is_space(*c) && (c == s || is_space(c[-1]));
    return n;
}

static bool usable(const char *s, size_t len) {
    if (len < 40 || len > 300 || !isupper((unsigned char)s[0]) || !strchr(".!?", s[len - 1])) return false;
    size_t letters = 0, visible = 0;
    int depth = 0, words = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ') continue;
        words += i == 0 || s[i - 1] == ' ';
        visible++;
        letters += isalpha(c) != 0;
        if (c == '(' || c == '[') depth++;
        if ((c == ')' || c == ']') && --depth < 0) return false;
        if (c >= 0x80 || c < 0x20) return false;   // Latin script, no U+FFFD, no broken word
    }
    return depth == 0 && words >= 6 && letters * 10 >= visible * 7;
}

static void push(struct sentence_list *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        if (!(l->v = realloc(l->v, (size_t)l->cap * sizeof *l->v))) abort();
    }
    if (!(l->v[l->n] = strndup(s, len))) abort();
    l->n++;
}

void sentences_of_block(const char *text, struct sentence_list *l) {
    // a word broken over two lines ("parti-\ntioning") is marked with a control character,
    // which makes the sentence holding it unusable
    char *marked = strdup(text);
    if (!marked) abort();
    for (char *c = strstr(marked, "-\n"); c; c = strstr(c + 1, "-\n")) c[1] = '\x01';
    char *line = text_one_line(marked);
    size_t n = strlen(line), start = 0;
    for (size_t i = 0; i < n; i++) {
        bool end = strchr(".!?", line[i]) &&
                   (i + 1 == n || (line[i + 1] == ' ' && i + 2 < n && isupper((unsigned char)line[i + 2])));
        if (!end) continue;
        if (usable(line + start, i + 1 - start)) push(l, line + start, i + 1 - start);
        start = i + 2;
    }
    free(line);
    free(marked);
}

// Whether the number at s[at..end) reads as a quantity in prose: after a lowercase word
// of two or more letters that is not a label ("page 7", "version 2"), and followed by a
// word, '%', or punctuation and then a word or the end (not "H 0" or "1, . . . , K").
static bool in_prose(const char *s, size_t at, size_t end) {
    static const char *labels[] = { "page", "pages", "version", "step", "section", "chapter", "figure", "table",
                                    "equation", "line", "item", "appendix", "no" };
    if (at < 3 || s[at - 1] != ' ') return false;
    size_t begin = at - 1;
    while (begin > 0 && s[begin - 1] != ' ') begin--;
    if (at - 1 - begin < 2) return false;
    for (size_t i = begin; i < at - 1; i++)
        if (!islower((unsigned char)s[i])) return false;
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strlen(labels[i]) == at - 1 - begin && !strncmp(s + begin, labels[i], at - 1 - begin)) return false;
    const char *c = s + end;
    if (*c == '%') c++;
    if (*c == '.' || *c == ',' || *c == ')' || *c == ';') c++;
    if (!*c) return true;
    return c[0] == ' ' && isalpha((unsigned char)c[1]) && isalpha((unsigned char)c[2]);
}

bool sentence_number(const char *s, double *value, size_t *at, size_t *len, int *decimals) {
    int found = 0;
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) continue;
        size_t j = i;
        while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.' || s[j] == ',')) j++;
        size_t k = j;
        while (k > i && (s[k - 1] == '.' || s[k - 1] == ',')) k--;   // sentence punctuation
        bool alone = (i == 0 || s[i - 1] == ' ' || s[i - 1] == '(' || s[i - 1] == '$') &&
                     (j == n || s[j] == ' ' || s[j] == ')' || s[j] == '%' || k < j);
        if (alone && found++ == 0) {
            // "1,024" and "1,234,567": thousands; any other comma (a list "1,2") is not a number
            char digits[64];
            size_t m = 0, dot = 0;
            bool ok = k - i < sizeof digits;
            int dots = 0;
            for (size_t c = i; ok && c < k; c++) {
                if (s[c] == ',') {
                    size_t run = 0;
                    for (size_t d = c + 1; d < k && isdigit((unsigned char)s[d]); d++) run++;
                    ok = run == 3 && !dots;
                    continue;
                }
                if (s[c] == '.') dots++, dot = m;
                digits[m++] = s[c];
            }
            digits[m] = 0;
            if (!ok || dots > 1 || !in_prose(s, i, k) || m > 9) return false;
            *value = strtod(digits, NULL);
            *at = i;
            *len = k - i;
            *decimals = dots ? (int)(m - dot - 1) : 0;
        }
        i = j;
    }
    return found == 1;
}

char *sentence_head(const char *s, int n_words, const char **rest) {
    const char *c = s;
    for (int w = 0; *c && w < n_words; w++) {
        while (*c == ' ') c++;
        while (*c && *c != ' ') c++;
    }
    char *head = strndup(s, (size_t)(c - s));
    if (!head) abort();
    while (*c == ' ') c++;
    *rest = c;
    return head;
}
