package tokenizer

// template is TemplateProcessing's "single" template: special-token ids
// before and after the sequence ($A). Other post-processors in the shipped
// files (ByteLevel) do not change ids.
type template struct {
	before, after []int
	present       bool // a TemplateProcessing was found
}

// apply adds the template's special tokens around ids.
func (t template) apply(ids []int) []int {
	if len(t.before) == 0 && len(t.after) == 0 {
		return ids
	}
	out := make([]int, 0, len(t.before)+len(ids)+len(t.after))
	out = append(out, t.before...)
	out = append(out, ids...)
	return append(out, t.after...)
}
