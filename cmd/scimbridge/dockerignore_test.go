package main

import "testing"

func TestDockerIgnoredFollowsDockersRules(t *testing.T) {
	patterns := []string{".git", "deploy", "*.db", "**/*_test.go", "**/node_modules"}
	tests := map[string]bool{
		".git/config":                         true,
		"deploy/Dockerfile":                   true,
		"cmd/deploy/x.go":                     false,
		"state.db":                            true,
		"store/state.db":                      false,
		"cmd/scimbridge/main_test.go":         true,
		"main_test.go":                        true,
		"cmd/scimbridge/main.go":              false,
		"testdata/scimmy/node_modules/a/b.js": true,
		"go.mod":                              false,
	}
	for path, want := range tests {
		if got := dockerIgnored(path, patterns); got != want {
			t.Errorf("dockerIgnored(%q) = %v, want %v", path, got, want)
		}
	}
}
