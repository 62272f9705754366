// The model generator's reply parser and question wording (train/data/qa-model.h): the
// form the prompt asks for, the ways models dress it (markdown, chatter, a field on two
// lines, page ranges), and each reason a reply is refused.
#include "qa-model.h"
#include "test-util.h"

// Parses text for task over shown pages 3-10; checks the verdict (NULL: taken) and,
// when taken, the fields.
static void expect_reply(const char *name, const char *text, enum synth_task task, const char *want_why,
                         const char *want_q, const char *want_a, const char *want_pages) {
    struct qa_reply r;
    const char *why = qa_reply_parse(text, task, 3, 10, &r);
    char pages[128] = "";
    for (int i = 0; !why && i < r.n_pages; i++)
        snprintf(pages + strlen(pages), sizeof pages - strlen(pages), "%s%d", i ? "," : "", r.pages[i]);
    bool ok = want_why ? why && !strcmp(why, want_why)
                       : !why && !strcmp(r.question, want_q) && !strcmp(r.answer, want_a) && !strcmp(pages, want_pages);
    check(ok, "%s: %s%s%s%s%s%s%s", name, why ? "refused: " : "taken: ", why ? why : r.question, why ? "" : " | ",
          why ? "" : r.answer, why ? "" : " | ", why ? "" : pages, ok ? "" : " (not what was wanted)");
    if (!why) qa_reply_free(&r);
}

static void expect_question(const char *anchor, const char *q, const char *want) {
    char *got = qa_anchored_question(anchor, q);
    check(!strcmp(got, want), "anchored: \"%s\"%s", got, strcmp(got, want) ? " (want it otherwise)" : "");
    free(got);
}

int main(void) {
    enum synth_task S = TASK_EXTRACT_SINGLE, M = TASK_EXTRACT_MULTI, R = TASK_REASONING;
    expect_reply("the form", "Question: What is the sample size?\nAnswer: 412\nPages: 5", S, NULL,
                 "What is the sample size?", "412", "5");
    expect_reply("markdown and a range", "**Question:** Which methods are compared?\n**Answer:** CART and C-tree **\n"
                 "- **Pages:** 8, 4-5", M, NULL, "Which methods are compared?", "CART and C-tree", "4,5,8");
    expect_reply("chatter, a field on two lines, 'and'", "Sure, here is one.\n\nQuestion:\nHow many more trees?\n"
                 "Answer: 7 more\n(12 - 5)\nPages: 4 and 6\n", R, NULL, "How many more trees?", "7 more (12 - 5)", "4,6");
    expect_reply("repeated pages once", "Question: Q?\nAnswer: A\nPages: 6, 6, 5-6", M, NULL, "Q?", "A", "5,6");
    expect_reply("no answer", "Question: What is it?\nPages: 4", S, "no Answer: line", 0, 0, 0);
    expect_reply("no pages", "Question: What is it?\nAnswer: a tree", S, "no Pages: line", 0, 0, 0);
    expect_reply("an empty question", "Question:\nAnswer: a tree\nPages: 4", S, "no Question: line", 0, 0, 0);
    expect_reply("nothing like the form", "The document describes trees.", S, "no Question: line", 0, 0, 0);
    expect_reply("a page not shown", "Question: Q?\nAnswer: A\nPages: 2, 4", S, "a page that was not shown", 0, 0, 0);
    expect_reply("a range past the end", "Question: Q?\nAnswer: A\nPages: 9-11", S, "a page that was not shown", 0, 0, 0);
    expect_reply("no page numbers", "Question: Q?\nAnswer: A\nPages: none", S, "no page numbers", 0, 0, 0);
    expect_reply("multi from one page", "Question: Q?\nAnswer: A, B\nPages: 7", M, "one page for extract-multi", 0, 0, 0);
    expect_reply("the question names a page", "Question: What is on page 7?\nAnswer: A\nPages: 7", S,
                 "the question names a page", 0, 0, 0);
    expect_reply("the question names pages", "Question: What do pages 4-5 say?\nAnswer: A\nPages: 4", S,
                 "the question names a page", 0, 0, 0);
    expect_reply("p. 7", "Question: What is shown on p. 7?\nAnswer: A\nPages: 7", S, "the question names a page", 0,
                 0, 0);
    expect_reply("'pages' without a number is fine", "Question: How many pages does the appendix have?\nAnswer: 3\n"
                 "Pages: 9", S, NULL, "How many pages does the appendix have?", "3", "9");
    expect_reply("two questions", "Question: Q1?\nAnswer: A1\nQuestion: Q2?\nAnswer: A2\nPages: 4", S,
                 "a field given twice", 0, 0, 0);
    char long_answer[600] = "Question: Q?\nAnswer: ";
    memset(long_answer + strlen(long_answer), 'x', 450);
    strcat(long_answer, "\nPages: 4");
    expect_reply("a rambling answer", long_answer, S, "the answer is too long", 0, 0, 0);

    expect_question("in the section 'Results'", "What is the sample size?",
                    "In the section 'Results', what is the sample size?");
    expect_question("on pages 3-12", "A tree of which depth is chosen?", "On pages 3-12, a tree of which depth is chosen?");
    expect_question("on pages 3-12", "IBM reports which revenue?", "On pages 3-12, IBM reports which revenue?");
    expect_question("on page 4", "I is which index?", "On page 4, I is which index?");

    char *p = qa_model_prompt(TASK_REASONING, 20, 25);
    check(strstr(p, "pages 20 to 25") && strstr(p, "calculation") && strstr(p, "\nQuestion: ") &&
              strstr(p, "\nAnswer: ") && strstr(p, "\nPages: "),
          "the reasoning prompt names the pages, the task and the form");
    free(p);
    return test_summary("qa-reply");
}
