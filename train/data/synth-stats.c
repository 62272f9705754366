// Synthesis statistics and the manifest (synth-stats.h).
#include "synth-stats.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void synth_stats_add(struct synth_stats *st, const struct synth_config *c, enum synth_task task, const char *rule,
                     int64_t tokens, int64_t answer_tokens) {
    st->made++;
    st->task[task]++;
    for (int r = 0; r < SYNTH_MAX_RULES; r++)
        if (!st->rule_name[r] || !strcmp(st->rule_name[r], rule)) {
            st->rule_name[r] = rule;
            st->rule[r]++;
            break;
        }
    if (tokens < c->edges[0]) st->below++;
    else if (tokens > c->edges[c->n_bins]) st->above++;
    else {
        int b = 0;
        while (b + 1 < c->n_bins && tokens >= c->edges[b + 1]) b++;
        st->bin[b]++;
    }
    st->tokens += tokens;
    st->answer_tokens += answer_tokens;
    if (st->made == 1 || tokens < st->min_tokens) st->min_tokens = tokens;
    if (tokens > st->max_tokens) st->max_tokens = tokens;
}

static void bar(FILE *f, double share) {
    int n = (int)(share * 40 + 0.5);
    for (int i = 0; i < n; i++) fputc('#', f);
}

void synth_stats_print(FILE *f, const struct synth_stats *st, const struct synth_config *c) {
    double n = st->made ? (double)st->made : 1;
    fprintf(f, "instances: %lld made, %lld failed (attempts given up: %lld no material, %lld replies refused, %lld too "
               "long, %lld page over the budget), %lld documents used, %.1f s (%.1f instances/s)\n",
            (long long)st->made, (long long)st->failed, (long long)st->no_material, (long long)st->refused,
            (long long)st->too_long,
            (long long)st->page_too_big, (long long)st->docs_used, st->seconds, st->seconds > 0 ? st->made / st->seconds : 0);
    fprintf(f, "tokens: %lld (mean %.0f, min %lld, max %lld; answers %lld)\ntasks:", (long long)st->tokens,
            st->tokens / n, (long long)st->min_tokens, (long long)st->max_tokens, (long long)st->answer_tokens);
    for (int t = 0; t < TASK_COUNT; t++) fprintf(f, " %s %lld", synth_task_name(t), (long long)st->task[t]);
    fprintf(f, "\nrules:");
    for (int r = 0; r < SYNTH_MAX_RULES && st->rule_name[r]; r++) fprintf(f, " %s %lld", st->rule_name[r], (long long)st->rule[r]);
    fprintf(f, "\nlengths (%s):\n", synth_distribution_name(c->distribution));
    fprintf(f, "  %7s-%-7lld %6lld %5.1f%%  ", "", (long long)c->edges[0], (long long)st->below, 100 * st->below / n);
    bar(f, st->below / n);
    fprintf(f, "\n");
    for (int b = 0; b < c->n_bins; b++) {
        fprintf(f, "  %7lld-%-7lld %6lld %5.1f%%", (long long)c->edges[b], (long long)c->edges[b + 1], (long long)st->bin[b],
                100 * st->bin[b] / n);
        if (c->distribution != DIST_POOL_NATIVE) fprintf(f, " (target %5.1f%%)", 100 * c->bin_weight[b]);
        fprintf(f, "  ");
        bar(f, st->bin[b] / n);
        fprintf(f, "\n");
    }
    fprintf(f, "  %7lld-%-7s %6lld %5.1f%%\n", (long long)c->edges[c->n_bins], "", (long long)st->above, 100 * st->above / n);
}

char *synth_manifest_json(const struct synth_stats *st, const struct synth_config *c, const struct synth_manifest_info *m) {
    cJSON *j = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(j, "config");
    cJSON_AddStringToObject(j, "generator", m->generator);
    cJSON_AddStringToObject(j, "pool", m->pool);
    cJSON_AddStringToObject(j, "pool_settings", m->pool_settings);
    cJSON_AddNumberToObject(j, "seed", (double)m->seed);
    char shard[64];
    snprintf(shard, sizeof shard, "%d/%d", m->shard, m->n_shards);
    cJSON_AddStringToObject(j, "shard", shard);
    cJSON_AddNumberToObject(j, "instances_requested", (double)m->requested);
    cJSON_AddNumberToObject(j, "instances", (double)st->made);
    cJSON_AddNumberToObject(j, "failed", (double)st->failed);
    cJSON *tw = cJSON_AddObjectToObject(cfg, "task_weights");
    for (int t = 0; t < TASK_COUNT; t++) cJSON_AddNumberToObject(tw, synth_task_name(t), c->task_weight[t]);
    cJSON_AddStringToObject(cfg, "distribution", synth_distribution_name(c->distribution));
    cJSON *seg = cJSON_AddArrayToObject(cfg, "segment_pages");
    cJSON_AddItemToArray(seg, cJSON_CreateNumber(c->segment_min));
    cJSON_AddItemToArray(seg, cJSON_CreateNumber(c->segment_max));
    cJSON *tasks = cJSON_AddObjectToObject(j, "tasks"), *rules = cJSON_AddObjectToObject(j, "rules");
    for (int t = 0; t < TASK_COUNT; t++) cJSON_AddNumberToObject(tasks, synth_task_name(t), (double)st->task[t]);
    for (int r = 0; r < SYNTH_MAX_RULES && st->rule_name[r]; r++) cJSON_AddNumberToObject(rules, st->rule_name[r], (double)st->rule[r]);
    cJSON *hist = cJSON_AddArrayToObject(j, "length_histogram");
    for (int b = -1; b <= c->n_bins; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "from", b < 0 ? 0 : (double)c->edges[b]);
        if (b < c->n_bins) cJSON_AddNumberToObject(e, "to", (double)c->edges[b + 1]);
        cJSON_AddNumberToObject(e, "count", (double)(b < 0 ? st->below : b == c->n_bins ? st->above : st->bin[b]));
        if (b >= 0 && b < c->n_bins && c->distribution != DIST_POOL_NATIVE) cJSON_AddNumberToObject(e, "target", c->bin_weight[b]);
        cJSON_AddItemToArray(hist, e);
    }
    cJSON *tok = cJSON_AddObjectToObject(j, "tokens");
    cJSON_AddNumberToObject(tok, "total", (double)st->tokens);
    cJSON_AddNumberToObject(tok, "min", (double)st->min_tokens);
    cJSON_AddNumberToObject(tok, "max", (double)st->max_tokens);
    cJSON_AddNumberToObject(tok, "answers", (double)st->answer_tokens);
    cJSON *gave_up = cJSON_AddObjectToObject(j, "attempts_given_up");
    cJSON_AddNumberToObject(gave_up, "no_material", (double)st->no_material);
    cJSON_AddNumberToObject(gave_up, "replies_refused", (double)st->refused);
    cJSON_AddNumberToObject(gave_up, "too_long", (double)st->too_long);
    cJSON_AddNumberToObject(gave_up, "page_over_budget", (double)st->page_too_big);
    cJSON_AddNumberToObject(j, "documents_used", (double)st->docs_used);
    cJSON *file = cJSON_AddObjectToObject(j, "file");
    cJSON_AddStringToObject(file, "name", m->shard_file);
    cJSON_AddNumberToObject(file, "bytes", (double)m->shard_bytes);
    cJSON_AddStringToObject(file, "sha256", m->shard_sha256);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) abort();
    return text;
}
