// Package needle builds the needle-in-a-haystack probe prompts that
// compresskv profiles attention heads on, locates the answer span inside
// each prompt's token ids, and scores a model's response with ROUGE-1
// recall (the success gate of docs/method.md section 2).
//
// What it provides:
//   - needles: loaded from the reference's JSONL (needle, question,
//     real_needle) or generated from a seed as templated facts with random
//     entities, so identification and evaluation can use disjoint sets;
//   - haystacks: a .txt file, a folder of .txt files, or seeded prose of
//     our own (GenerateHaystack), repeated when shorter than needed;
//   - the probe grid (context lengths x depths), prompt templates (the
//     reference's raw format and the Llama 3 / Mistral / ChatML chat
//     formats, from configs/templates.yaml), and Build, which turns them
//     into token ids with the answer span [SpanStart, SpanEnd);
//   - Rouge1Recall with NLTK's Porter stemmer (PorterStem), matching
//     rouge_score's RougeScorer(["rouge1"], use_stemmer=True).
//
// Prompt construction follows the CompressKV reference head-detection
// script (semantic_retrieval_head_detection.py, itself adapted from
// gkamradt's LLMTest_NeedleInAHaystack and Retrieval_Head): the haystack is
// tokenised, cut to (context length - buffer - needle tokens) tokens; the
// insertion point is depth% of that, moved back to just after the last
// period token; the needle's tokens go there (depth 0 puts them first;
// depth 100 puts them after the last sentence end of the cut haystack,
// where the reference appends them after its last, often cut, sentence);
// the ids are decoded back to text and wrapped by the
// template; the prompt is tokenised again and the answer span searched for
// with the reference rule (a window of the answer's token length whose id
// set overlaps the answer's id set by more than 90 %).
//
// Deliberate deviations from the reference, each small (Settings.Compat =
// CompatReference drops them all and reproduces the reference token for
// token, its accidents included; see buildReference):
//   - The reference tokenises with special tokens, so its haystack and its
//     needle each carry a BOS id, the needle's BOS lands inside the
//     context, and its period set is encode(".") = {BOS, "."}. Here the
//     haystack and needle are tokenised without special tokens and the
//     template's tokenisation adds the one BOS (Settings.AddSpecial); the
//     haystack part is therefore one token longer than the reference's.
//   - The reference trims the haystack by decoding the first
//     context_length tokens to text and re-encoding it; here the trim
//     works on the ids directly (identical up to the boundary token).
//   - Period ids: the ids of "." alone and of the "." ending a word
//     ("a."), where they differ (SentencePiece "▁." vs "."); the
//     reference's commented-out per-family lists hold exactly these two.
//   - A needle text without surrounding whitespace (generated needles,
//     or a JSONL needle written without them) is framed as
//     "\n" + needle + "\n", the framing of the reference's own needles.
//   - Span search: the reference takes the first window of the whole
//     prompt that passes the 90 % rule, which finds the haystack's copy of
//     an answer that also occurs before the needle. Build searches from a
//     few ids before the needle first (then, failing that, the whole
//     prompt), accepts a window only if its decoded text contains the
//     answer (whitespace normalised, case ignored), and also tries the
//     answer tokenised after a space (byte-level BPE tokenises " Amber"
//     and "Amber" differently, which defeats the 90 % rule on short
//     answers) and in the needle's own spelling when it differs in case.
//     A probe with no acceptable span is skipped with a reason. Windows that run
//     past the end of the prompt are not considered.
//   - The reference repeats the haystack until it has as many words as
//     the longest context has tokens; Build repeats it until it has
//     enough tokens.
//
// This package never runs a model, never imports profile/ or calibrate/,
// and never writes files: it turns text into ids and scores text.
package needle
