package slapdtest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"strings"
)

// Change types of an LDIF record.
const (
	changeAdd    = "add"
	changeModify = "modify"
	changeDelete = "delete"
	changeModRDN = "modrdn"
)

// attr is one "name: value" line of an LDIF record, value decoded.
type attr struct {
	name  string
	value string
}

// modification is one "add:/replace:/delete:" block of a modify record.
type modification struct {
	op     string // add, replace or delete
	name   string
	values []string
}

// record is one LDIF record: an entry to add, or a change.
type record struct {
	line       int // first line, for error messages
	dn         string
	changeType string
	attrs      []attr         // add
	mods       []modification // modify
	newRDN     string         // modrdn
	deleteOld  bool           // modrdn
	newSup     string         // modrdn, optional
}

// parseLDIF parses RFC 2849 LDIF: content records (treated as adds) and change
// records with changetype add, modify, delete, modrdn or moddn. It supports
// comments, folded lines and base64 values ("name:: …"); URL values ("name:< …")
// are rejected.
func parseLDIF(text string) ([]record, error) {
	type line struct {
		n    int
		text string
	}
	var (
		blocks [][]line
		cur    []line
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	n := 0
	inComment := false
	for sc.Scan() {
		n++
		s := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case s == "":
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			inComment = false
		case s[0] == ' ':
			if inComment {
				continue
			}
			if len(cur) == 0 {
				return nil, fmt.Errorf("ldif line %d: continuation line without a preceding line", n)
			}
			cur[len(cur)-1].text += s[1:]
		case s[0] == '#':
			inComment = true
		default:
			inComment = false
			cur = append(cur, line{n, s})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ldif: %w", err)
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}

	var recs []record
	for bi, b := range blocks {
		pairs := make([]attr, 0, len(b))
		for _, l := range b {
			a, err := parseLine(l.text)
			if err != nil {
				return nil, fmt.Errorf("ldif line %d: %w", l.n, err)
			}
			pairs = append(pairs, a)
		}
		if bi == 0 && strings.EqualFold(pairs[0].name, "version") {
			pairs, b = pairs[1:], b[1:]
			if len(pairs) == 0 {
				continue
			}
		}
		r, err := buildRecord(pairs)
		if err != nil {
			return nil, fmt.Errorf("ldif record at line %d: %w", b[0].n, err)
		}
		r.line = b[0].n
		recs = append(recs, r)
	}
	return recs, nil
}

func parseLine(s string) (attr, error) {
	if strings.TrimRight(s, " ") == "-" {
		return attr{name: "-"}, nil
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return attr{}, fmt.Errorf("expected \"name: value\", got %q", s)
	}
	name, rest := s[:i], s[i+1:]
	switch {
	case strings.HasPrefix(rest, ":"):
		v, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest[1:]))
		if err != nil {
			return attr{}, fmt.Errorf("base64 value of %s: %w", name, err)
		}
		return attr{name, string(v)}, nil
	case strings.HasPrefix(rest, "<"):
		return attr{}, fmt.Errorf("URL values (%s:<) are not supported", name)
	default:
		return attr{name, strings.TrimLeft(rest, " ")}, nil
	}
}

func buildRecord(pairs []attr) (record, error) {
	if !strings.EqualFold(pairs[0].name, "dn") {
		return record{}, fmt.Errorf("must start with dn:, got %q", pairs[0].name)
	}
	r := record{dn: pairs[0].value, changeType: changeAdd}
	body := pairs[1:]
	if len(body) > 0 && strings.EqualFold(body[0].name, "control") {
		return record{}, fmt.Errorf("controls are not supported")
	}
	if len(body) > 0 && strings.EqualFold(body[0].name, "changetype") {
		r.changeType = strings.ToLower(body[0].value)
		body = body[1:]
	}
	switch r.changeType {
	case changeAdd:
		if len(body) == 0 {
			return record{}, fmt.Errorf("entry %q has no attributes", r.dn)
		}
		r.attrs = body
	case changeDelete:
		if len(body) > 0 {
			return record{}, fmt.Errorf("delete of %q has extra lines", r.dn)
		}
	case changeModRDN, "moddn":
		r.changeType = changeModRDN
		r.deleteOld = true
		for _, a := range body {
			switch strings.ToLower(a.name) {
			case "newrdn":
				r.newRDN = a.value
			case "deleteoldrdn":
				r.deleteOld = a.value != "0"
			case "newsuperior":
				r.newSup = a.value
			default:
				return record{}, fmt.Errorf("modrdn of %q: unexpected line %q", r.dn, a.name)
			}
		}
		if r.newRDN == "" {
			return record{}, fmt.Errorf("modrdn of %q: newrdn missing", r.dn)
		}
	case changeModify:
		var m *modification
		for _, a := range body {
			switch {
			case a.name == "-":
				if m == nil {
					return record{}, fmt.Errorf("modify of %q: stray \"-\"", r.dn)
				}
				r.mods = append(r.mods, *m)
				m = nil
			case m == nil:
				op := strings.ToLower(a.name)
				if op != "add" && op != "replace" && op != "delete" {
					return record{}, fmt.Errorf("modify of %q: expected add:, replace: or delete:, got %q", r.dn, a.name)
				}
				m = &modification{op: op, name: a.value}
			case strings.EqualFold(a.name, m.name):
				m.values = append(m.values, a.value)
			default:
				return record{}, fmt.Errorf("modify of %q: value of %s inside the %s block", r.dn, a.name, m.name)
			}
		}
		if m != nil {
			r.mods = append(r.mods, *m)
		}
	default:
		return record{}, fmt.Errorf("unknown changetype %q", r.changeType)
	}
	return r, nil
}

// writeLDIF renders add records as plain content LDIF (for slapadd), base64
// encoding every value so no value needs escaping.
func writeLDIF(b *strings.Builder, r record) {
	b.WriteString("dn:: ")
	b.WriteString(base64.StdEncoding.EncodeToString([]byte(r.dn)))
	b.WriteByte('\n')
	for _, a := range r.attrs {
		b.WriteString(a.name)
		b.WriteString(":: ")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(a.value)))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
}
