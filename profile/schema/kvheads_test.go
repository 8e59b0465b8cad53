package schema

import (
	"reflect"
	"strings"
	"testing"
)

func TestKVView(t *testing.T) {
	// 3 layers, 4 query heads, 2 KV heads (r = 2), computed by hand:
	// layer 0: both groups have max 0.5, group 1's mean (0.5) wins the tie;
	// layer 1: group 1 holds the only retrieval head;
	// layer 2: all zero, index order.
	srh := [][]float64{{0.5, 0, 0.5, 0.5}, {0, 0, 0.125, 1}, {0, 0, 0, 0}}
	got, err := KVView(srh, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := &KVHeads{
		SRHMax:  [][]float64{{0.5, 0.5}, {0, 1}, {0, 0}},
		SRHMean: [][]float64{{0.25, 0.5}, {0, 0.5625}, {0, 0}},
		Ranking: [][]int{{1, 0}, {1, 0}, {0, 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// MHA (r = 1): the view is the SRH matrix and its ranking.
	mha, err := KVView([][]float64{{0.1, 0.3, 0.2}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mha.Ranking, [][]int{{1, 2, 0}}) || !reflect.DeepEqual(mha.SRHMax, [][]float64{{0.1, 0.3, 0.2}}) {
		t.Fatalf("MHA view %+v", mha)
	}
	if _, err := KVView([][]float64{{1, 2, 3}}, 2); err == nil {
		t.Fatal("3 query heads over 2 KV heads accepted")
	}
}

func TestValidateKVView(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*KVHeads)
		want   string
	}{
		{"max", func(v *KVHeads) { v.SRHMax[1][1] = 0.9 }, "heads.kv.srh_max[1][1] is 0.9, but heads.srh gives 1"},
		{"mean", func(v *KVHeads) { v.SRHMean[0][0] = 0.5 }, "heads.kv.srh_mean[0][0] is 0.5"},
		{"ranking", func(v *KVHeads) { v.Ranking[1] = []int{0, 1} }, "heads.kv.ranking[1] is [0 1]"},
		{"rows", func(v *KVHeads) { v.SRHMax = v.SRHMax[:1] }, "heads.kv.srh_max has 1 rows, want 2"},
		{"columns", func(v *KVHeads) { v.SRHMean[1] = []float64{0} }, "heads.kv.srh_mean[1] has 1 entries, want 2"},
	} {
		p := validProfile()
		tc.break_(p.Heads.KV)
		err := Validate(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	p := validProfile()
	p.Heads.KV = nil
	if err := Validate(p); err != nil {
		t.Fatalf("a profile without the view (older files): %v", err)
	}
	v, err := p.KVView()
	if err != nil || !reflect.DeepEqual(v, validProfile().Heads.KV) {
		t.Fatalf("KVView of an older profile: %+v, %v", v, err)
	}
}
