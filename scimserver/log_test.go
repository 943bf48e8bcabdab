package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// Every error scimbridge logs is under "err", elimity's included.
func TestErrorsAreLoggedUnderErr(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	elimityLogger{log}.Error("failed writing response", "error", errors.New("broken pipe"))
	rec := httptest.NewRecorder()
	(&handler{log: log}).storeError(rec, httptest.NewRequest(http.MethodGet, "/Users", nil), errors.New("disk I/O error"))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	want := []map[string]any{
		{"level": "ERROR", "msg": "scim discovery: failed writing response", "err": "broken pipe"},
		{"level": "ERROR", "msg": "scim: store read failed", "method": "GET", "path": "/Users", "err": "disk I/O error"},
	}
	dec := json.NewDecoder(&buf)
	for i, w := range want {
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("line %d = %v, want %v", i, got, w)
		}
	}
}
