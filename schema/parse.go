package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Parse reads a settings document strictly: field names must match exactly
// (an unknown or misspelled field is an error naming its path), every value
// must have its field's type, null is not accepted, and nothing may follow the
// document. Omitted fields take the defaults of the document's vendor: Parse
// reads "vendor" first, then decodes the document onto Defaults(vendor).
//
// Field problems are returned all at once as a *ValidationError; a document
// that is not JSON at all gets a plain error. Parse does not run Validate.
func Parse(data []byte) (Settings, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return Settings{}, errors.New("settings document is empty")
		}
		return Settings{}, fmt.Errorf("settings document is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Settings{}, fmt.Errorf("settings document has data after its end (offset %d)", dec.InputOffset())
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		return Settings{}, errors.New("settings document must be a JSON object")
	}

	var d decoder
	vendor := ""
	if v, ok := doc["vendor"]; ok {
		if sv, ok := v.(string); ok {
			vendor = sv
		}
	}
	s := Defaults(vendor)
	d.value(reflect.ValueOf(&s).Elem(), doc, "")
	if len(d.errs) > 0 {
		return Settings{}, &ValidationError{Fields: d.errs}
	}
	return s, nil
}

// decoder assigns a generic JSON tree onto a typed value, collecting every
// field error instead of stopping at the first.
type decoder struct {
	errs []FieldError
}

func (d *decoder) fail(path, msg string) {
	d.errs = append(d.errs, FieldError{Field: path, Message: msg})
}

func (d *decoder) value(v reflect.Value, raw any, path string) {
	if raw == nil {
		d.fail(path, "must not be null ("+typeWord(v.Type())+" expected)")
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, "must be an object")
			return
		}
		d.object(v, obj, path)
	case reflect.String:
		sv, ok := raw.(string)
		if !ok {
			d.fail(path, "must be a string")
			return
		}
		v.SetString(sv)
	case reflect.Bool:
		bv, ok := raw.(bool)
		if !ok {
			d.fail(path, "must be true or false")
			return
		}
		v.SetBool(bv)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(json.Number)
		if !ok {
			d.fail(path, "must be a number")
			return
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				d.fail(path, "is out of range")
			} else {
				d.fail(path, "must be a whole number")
			}
			return
		}
		if v.OverflowInt(i) {
			d.fail(path, "is out of range")
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			d.fail(path, "must be a list of strings")
			return
		}
		out := reflect.MakeSlice(v.Type(), len(arr), len(arr))
		for i, el := range arr {
			d.value(out.Index(i), el, fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(out)
	default:
		// Settings only holds the kinds above; a new kind must be taught here.
		d.fail(path, "has an unsupported type "+v.Type().String())
	}
}

func (d *decoder) object(v reflect.Value, obj map[string]any, path string) {
	fields := jsonFields(v.Type())
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	// Report in document-independent order so errors are stable.
	slices.Sort(keys)
	for _, k := range keys {
		p := joinPath(path, k)
		idx, ok := fields[k]
		if !ok {
			msg := "unknown field"
			for name := range fields {
				if strings.EqualFold(name, k) {
					msg += fmt.Sprintf(" (did you mean %q?)", name)
					break
				}
			}
			d.fail(p, msg)
			continue
		}
		d.value(v.Field(idx), obj[k], p)
	}
}

// jsonFields maps the JSON names of struct type t to field indexes.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if name := jsonName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	default:
		return "a number"
	}
}
