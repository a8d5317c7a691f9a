package gateway

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The README's error catalogue is part of the contract: every problem type
// the gateway can answer must be listed there with its status.
func TestREADMEListsEveryProblemType(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, p := range Catalogue {
		row := "| `" + p.Slug + "` | " + strconv.Itoa(p.Status) + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the catalogue row %q", row)
		}
	}
}
