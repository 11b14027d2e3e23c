package api

import "testing"

func TestHasLoneSurrogate(t *testing.T) {
	cases := []struct {
		raw  string
		lone bool
	}{
		{`"plain"`, false},
		{`"\u00e9"`, false},
		{`"\ud83d\ude00"`, false},
		{`"a\\ud800"`, false},
		{`"\ud800"`, true},
		{`"\udc00"`, true},
		{`"\ud800x"`, true},
		{`"\ud800\u0041"`, true},
		{`"\ud800\n"`, true},
		{`"\ud83d\ude00\ud800"`, true},
		{`"x\\\ud800"`, true},
	}
	for _, tc := range cases {
		if got := hasLoneSurrogate([]byte(tc.raw)); got != tc.lone {
			t.Errorf("hasLoneSurrogate(%s) = %t, want %t", tc.raw, got, tc.lone)
		}
	}
}
