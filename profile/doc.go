// Package profile scores the attention heads of a model on needle probes
// (docs/method.md section 2) and assembles the head part of a compresskv profile
// (profile/schema): per-probe scoring, the mean over successful probes, the
// per-layer rankings, a crash-safe checkpoint journal, shards and their
// merge.
//
// # Scores
//
// For a probe with answer span [s, e) in the prompt ids, at every decode
// step the Accumulator reduces each head's attention row a[l][h][.] to its
// span mass sum_{j in [s,e)} a[l][h][j] and its top-1 position, and pairs
// them with the token the step produced:
//
//   - SRH (CompressKV): for every i in [s,e) with prompt[i] == produced
//     token, srh[l][h] += span mass. A token occurring k times in the span
//     adds the mass k times; nothing is divided by the span length. This is
//     the reference's retrieval_calculate in
//     semantic_retrieval_head_detection.py.
//   - Classic retrieval score (Wu et al.): if the top-1 position i lies in
//     [s,e) and prompt[i] == produced token, ret[l][h] += 1/(e-s). Ties for
//     the top-1 go to the lowest position. The reference uses
//     torch.topk(1), whose choice among equal values is not specified;
//     with real attention rows exact ties are rare.
//
// Pairing: at decode step t the model is fed one token (the last prompt
// token at t = 0, then the token produced at t-1), attends with that
// token's query, and its logits give the produced token. The reference
// (decode() of the same script) calls retrieval_calculate with
// outputs.attentions of the fed token and inp = argmax of the same
// outputs' logits, so the rows of the query that *produced* a token are
// scored against that token. Run does the same: Observer collects each
// layer's rows during the Step, and Commit pairs them with the argmax of
// the Step's logits. The step that produces the stop token (newline or
// EOS) is still scored, as in the reference, whose break follows the call.
//
// Aggregation: a probe counts when the ROUGE-1 recall of its response
// (decoded generated tokens, special tokens skipped, trimmed) against the
// answer is > 0.5 (strictly). A head's score is the mean of its per-probe
// scores over the counting probes, summed in probe index order (zero when
// no probe counts). Per layer, heads are ranked by score descending, equal
// scores by lower head index: the same order as the reference's stable
// Python sorted(..., reverse=True) over heads listed in index order.
//
// # Deviations (each recorded in probes.scoring, off by default)
//
//   - Stop rule: generation stops after any token whose decoded text
//     contains "\n", or an EOS token. The reference tests the SentencePiece
//     piece "<0x0A>" or the id 144 only, which never fires for Llama 3's
//     byte-level "Ċ" tokens (it then always decodes 50 tokens).
//   - Teacher forcing ("teacher-forced"): the answer span's own tokens
//     prompt[s:e] are fed after the prompt and each step is scored against
//     the true answer token. The recall gate is not applied (every probe
//     counts: the mode is for models that cannot retrieve on their own);
//     the recorded response and recall are the model's own argmax
//     predictions at each step, for information.
//   - Normalised SRH ("+normalized-srh"): a step whose produced token occurs
//     in the span adds the span mass once, times 1/(e-s), so a probe's SRH
//     is comparable across answer lengths (at most about 1).
//
// # Files
//
// A run journals each finished probe as one JSON line (Record: index,
// result, and its per-probe matrices in Go's shortest round-trip float
// form) after a Header line with the settings and model fingerprint, and
// syncs it. Resuming reads the journal back bit-exactly, so the final
// profile is byte-identical to an uninterrupted run's. A shard file is the
// same journal holding the probes with index % n == i, rewritten in index
// order with a completion mark; Merge checks that shards agree on the
// header and cover every probe once, and gives the single run's bytes.
//
// This package never writes the profile itself (the command does, through
// internal/atomicfile), never changes the forward pass (it only observes
// it), and never reads or sets calibration.
package profile
