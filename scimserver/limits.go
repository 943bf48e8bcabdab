package scimserver

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Bounds of a filter's text, checked in one pass over its bytes before the
// parser sees it: the parser's time and memory grow steeply with nesting
// (2,040 nested parentheses took 0.16 s of CPU and 36 MB), and the store's
// work grows with the number of terms. Entra, Okta and IOMETE send one to
// three comparisons at depth one or two.
const (
	// maxFilterDepth is the deepest nesting of "(" and "[" (a "not (" is one level).
	maxFilterDepth = 10
	// maxFilterTerms is the most comparisons (eq, co, pr, …) in one filter.
	maxFilterTerms = 20
)

// filterOps are the comparison operators of RFC 7644 §3.4.2.2.
var filterOps = map[string]bool{
	"eq": true, "ne": true, "co": true, "sw": true, "ew": true,
	"gt": true, "ge": true, "lt": true, "le": true, "pr": true,
}

// checkFilterShape refuses a filter nested deeper than maxFilterDepth or
// with more than maxFilterTerms comparisons, outside quoted strings, without
// parsing it.
func checkFilterShape(text string) error {
	depth, terms := 0, 0
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '"':
			i = skipString(text, i)
			continue
		case c == '(' || c == '[':
			if depth++; depth > maxFilterDepth {
				return badFilter("the filter nests brackets more than %d levels deep", maxFilterDepth)
			}
		case c == ')' || c == ']':
			depth--
		case isPathChar(c) && (i == 0 || !isPathChar(text[i-1])):
			j := i
			for j < len(text) && isPathChar(text[j]) {
				j++
			}
			if filterOps[strings.ToLower(text[i:j])] {
				if terms++; terms > maxFilterTerms {
					return badFilter("the filter has more than %d comparisons", maxFilterTerms)
				}
			}
			i = j
			continue
		}
		i++
	}
	return nil
}

// DefaultRequestTimeout bounds the store's work for one request when
// Options.RequestTimeout is 0.
const DefaultRequestTimeout = 5 * time.Second

// DefaultMaxScans is how many requests that scan (a filter that is not an
// index lookup, or no filter) may read the store at once when
// Options.MaxScans is 0. One leaves the other CPU and read connections to
// index lookups, so expensive queries cannot starve cheap ones.
const DefaultMaxScans = 1

// admission lets at most cap(slots) scanning requests read at once; the
// others wait for a slot until their deadline.
type admission struct {
	slots chan struct{}
}

func newAdmission(n int) *admission {
	return &admission{slots: make(chan struct{}, n)}
}

// enter waits for a slot; it returns false when ctx ends first.
func (a *admission) enter(ctx context.Context) bool {
	select {
	case a.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *admission) leave() { <-a.slots }

// writeBusy answers 503 with Retry-After when a request ran out of time,
// waiting for a slot or in the store.
func writeBusy(w http.ResponseWriter, timeout time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((timeout+time.Second-1)/time.Second))))
	writeError(w, http.StatusServiceUnavailable, "",
		"the request did not finish within "+timeout.String()+": narrow the filter or retry later")
}
