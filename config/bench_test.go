package config

import (
	"os"
	"testing"
)

func BenchmarkLoadBytesShippedConfig(b *testing.B) {
	data, err := os.ReadFile("../gateway.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateDefaults(b *testing.B) {
	c := &Config{}
	ApplyDefaults(c)
	b.ReportAllocs()
	for b.Loop() {
		if ps := Validate(c); len(ps) != 0 {
			b.Fatal(ps)
		}
	}
}
