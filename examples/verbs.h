// The verbs of the longvl program; each takes the arguments after its name.
#pragma once

int verb_info(int argc, char **argv);
int verb_demo(int argc, char **argv);
int verb_bench(int argc, char **argv);   // bench/bench-main.c
int verb_convert(int argc, char **argv);     // verb-convert.c
int verb_make_tiny(int argc, char **argv);   // verb-convert.c
int verb_quantize(int argc, char **argv);    // verb-convert.c
int verb_tokenize(int argc, char **argv);     // verb-tokenize.c
int verb_detokenize(int argc, char **argv);   // verb-tokenize.c
int verb_logits(int argc, char **argv);       // verb-logits.c
int verb_vision(int argc, char **argv);       // verb-vision.c
int verb_run(int argc, char **argv);          // verb-run.c
int verb_train_longpt(int argc, char **argv);  // verb-train.c
int verb_data(int argc, char **argv);          // verb-data.c
int data_synth(int argc, char **argv);         // verb-data-synth.c: `data synth`
