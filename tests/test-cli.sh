#!/usr/bin/env bash
# The longvl verbs of the file-format work, end to end through the program: make-tiny,
# convert, info; and wrong flags or bad files answered with a message and a non-zero exit.
# usage: test-cli.sh LONGVL TOKENIZER_DIR
longvl=$1
tok=$2
. "$(dirname "$0")/test-lib.sh" cli

expect 0 "wrote a random Qwen2.5-VL" "$longvl" make-tiny "$dir/hf" --tokenizer "$tok" --shards 3
expect 0 "wrote $dir/m.gguf (27 tensors) and $dir/m-mmproj.gguf (71 tensors)" \
  "$longvl" convert "$dir/hf" -o "$dir/m" --outtype bf16 --quiet
expect 0 "check: ok, all 27 tensors" "$longvl" info "$dir/m.gguf"
expect 0 "qwen2.5-vl vision projector: 4 blocks" "$longvl" info "$dir/m-mmproj.gguf" --all
expect 0 "tokenizer.ggml.eos_token_id" "$longvl" info "$dir/m.gguf"

expect 0 "\[151644, 8948, 198, 2610, 525, 1207, 16948, 11, 3465, 553, 54364, 14817, 13, 1446, 525, 264, 10950, 17847, 13, 151645, 198\]" \
  "$longvl" tokenize --tokenizer "$tok" $'<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n'
expect 0 "\[9707, 1879\]" "$longvl" tokenize -m "$dir/m.gguf" "Hello world"
expect 0 "^Hello world$" "$longvl" detokenize -m "$dir/m.gguf" --ids "[9707, 1879]"
expect 0 "^system$" "$longvl" detokenize --tokenizer "$tok" --ids 151644,8948 --skip-special
expect 1 "outside the vocabulary" "$longvl" detokenize --tokenizer "$tok" --ids 99999999
expect 2 "not a token id" "$longvl" detokenize --tokenizer "$tok" --ids 1,x
expect 2 "exactly one of" "$longvl" tokenize "text"
expect 1 "No such file" "$longvl" tokenize --tokenizer "$dir/none" "text"
expect 0 "^\[151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 151652, 151655, 151655, 151655, 151655, 151653, 3838" \
  "$longvl" tokenize --tokenizer "$tok" --chat --image 56x56 "What kind of dog is this?"
expect 1 "at least 28 pixels" "$longvl" tokenize --tokenizer "$tok" --chat --image 20x20 "x"
expect 2 "usage: longvl convert" "$longvl" convert
expect 2 "outtype must be" "$longvl" convert "$dir/hf" -o "$dir/x" --outtype q4
expect 2 "unexpected argument" "$longvl" convert "$dir/hf" "$dir/other" -o "$dir/x"
expect 1 "No such file" "$longvl" convert "$dir/none" -o "$dir/x"
expect 0 "wrote $dir/q.gguf: 27 tensors (16 quantized: 11 f32 16 q8_0)" "$longvl" quantize "$dir/m.gguf" "$dir/q.gguf" q4_k_m --quiet
expect 0 "check: ok, all 27 tensors" "$longvl" info "$dir/q.gguf"
expect 0 "general.file_type *u32 *15" "$longvl" info "$dir/q.gguf"
expect 0 "wrote $dir/qv.gguf: 71 tensors" "$longvl" quantize "$dir/m-mmproj.gguf" "$dir/qv.gguf" q8_0 --quiet
expect 0 "qwen2.5-vl vision projector: 4 blocks" "$longvl" info "$dir/qv.gguf" --all
expect 2 "TYPE must be" "$longvl" quantize "$dir/m.gguf" "$dir/x.gguf" q3_k
expect 2 "OUT must differ" "$longvl" quantize "$dir/m.gguf" "$dir/m.gguf" q8_0
expect 2 "usage: longvl quantize" "$longvl" quantize "$dir/m.gguf"
expect 1 "already q8_0" "$longvl" quantize "$dir/q.gguf" "$dir/x.gguf" q4_0 --quiet
expect 1 "No such file" "$longvl" quantize "$dir/none.gguf" "$dir/x.gguf" q4_0
[ ! -e "$dir/x.gguf" ] && ok "no output after a refused quantize" || fail "a refused quantize left $dir/x.gguf"
expect 0 "GEMV prefetch: *1024 bytes ahead" env LONGVL_CPU_PREFETCH=1024 "$longvl" info
expect 0 "LONGVL_CPU_PREFETCH=100 is not 0 or a multiple of 64" env LONGVL_CPU_PREFETCH=100 "$longvl" info
expect 0 "LONGVL_CPU_ISA=avx9 is not one of" env LONGVL_CPU_ISA=avx9 "$longvl" info
expect 0 "huge pages: *on" "$longvl" info
expect 0 "huge pages: *off" env LONGVL_HUGEPAGES=0 "$longvl" info
expect 0 "LONGVL_HUGEPAGES=yes is not 0 or 1" env LONGVL_HUGEPAGES=yes "$longvl" info
expect 2 "unknown verb" "$longvl" frobnicate
expect 1 "No such file" "$longvl" info "$dir/none.gguf"
head -c 1000 "$dir/m.gguf" > "$dir/cut.gguf"
expect 1 "cannot fit" "$longvl" info "$dir/cut.gguf"
sz=$(stat -c %s "$dir/m.gguf"); head -c $((sz - 64)) "$dir/m.gguf" > "$dir/cut2.gguf"
expect 1 "truncated or corrupt" "$longvl" info "$dir/cut2.gguf"
expect 1 "truncated or corrupt" "$longvl" quantize "$dir/cut2.gguf" "$dir/x.gguf" q4_0
printf 'GGUF\x03\x00\x00\x00' > "$dir/short.gguf"
expect 1 "too small" "$longvl" info "$dir/short.gguf"
expect 1 "unknown preset" "$longvl" make-tiny "$dir/y" --preset huge --tokenizer "$tok"
expect 1 "tokenizer.json" "$longvl" make-tiny "$dir/z" --tokenizer "$dir/none"
if ls "$dir" | grep -q '\.tmp$'; then fail "temporary files left: $(ls "$dir")"; else ok "no temporary file left"; fi

summary
