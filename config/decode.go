package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pos is a position in a config file, 1-based.
type Pos struct {
	Line int
	Col  int
}

// Error is one problem in a config file.
type Error struct {
	File string
	Pos
	// Path names the field ("records[2].ttl"); it is what locates the
	// error when the policy came without a file.
	Path string
	Msg  string
}

// Error prints FILE:LINE:COL: message, or PATH: message without a file.
func (e Error) Error() string {
	switch {
	case e.File != "":
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// Errors is every problem found in one file, sorted by position. A config
// with any error is rejected whole.
type Errors []Error

// Error prints one problem per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// positions remembers where every decoded value came from, keyed by a path
// such as "records[2].pools[0]" or "providers.bind.server". Validation
// reports at the value's position, or the key's when it wants the field
// name; a missing field is reported at its parent.
type positions struct {
	file  string
	value map[string]Pos
	key   map[string]Pos
	errs  Errors
	// bad holds the paths whose values failed to decode.
	bad map[string]bool
}

func (p *positions) undecoded(path string) bool {
	for {
		if p.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

func newPositions(file string) *positions {
	return &positions{file: file, value: map[string]Pos{}, key: map[string]Pos{}, bad: map[string]bool{}}
}

func (p *positions) addf(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, Error{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// errorf reports a problem with the value at path, unless decoding already
// reported one there or above (a value that did not decode is zero, and
// judging the zero would only repeat the first error).
func (p *positions) errorf(path string, format string, args ...any) {
	if p.undecoded(path) {
		return
	}
	p.errs = append(p.errs, Error{File: p.file, Pos: p.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// keyErrorf reports a problem with the key of the field at path.
func (p *positions) keyErrorf(path string, format string, args ...any) {
	if p.undecoded(path) {
		return
	}
	p.errs = append(p.errs, Error{File: p.file, Pos: p.keyAt(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// at returns the position of path's value. For a field that was not
// written it returns where its closest written ancestor is named: the
// ancestor's key ("node:") or, for a list element, the element itself.
func (p *positions) at(path string) Pos {
	if pos, ok := p.value[path]; ok {
		return pos
	}
	for path != "" {
		path = parentPath(path)
		if pos, ok := p.key[path]; ok {
			return pos
		}
		if pos, ok := p.value[path]; ok {
			return pos
		}
	}
	return p.value[""]
}

// keyAt returns the position of path's key, falling back to at(path).
func (p *positions) keyAt(path string) Pos {
	if pos, ok := p.key[path]; ok {
		return pos
	}
	return p.at(path)
}

// has reports whether path was written in the file.
func (p *positions) has(path string) bool {
	_, ok := p.value[path]
	return ok
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func indexPath(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

func nodePos(n *node) Pos { return n.pos }

var (
	durationType = reflect.TypeFor[Duration]()
	providerType = reflect.TypeFor[Provider]()
)

// decoder turns a node tree into Go values strictly: unknown fields,
// duplicate keys and values of the wrong kind are errors, and every error is
// collected rather than only the first.
type decoder struct {
	*positions
}

// fail reports a value at path that did not decode.
func (d *decoder) fail(path string, n *node, format string, args ...any) {
	d.bad[path] = true
	d.addf(nodePos(n), format, args...)
}

func (d *decoder) decode(n *node, v reflect.Value, path string) {
	d.value[path] = nodePos(n)
	if n.kind == nullNode {
		return // leave the zero value; required fields are checked later
	}
	if v.Type() == durationType {
		d.decodeDuration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == providerType {
			d.decodeProvider(n, v.Addr().Interface().(*Provider), path)
			return
		}
		if !d.expect(n, mappingNode, path) {
			return
		}
		d.decodeStruct(n, v, path, nil)
	case reflect.Map:
		if !d.expect(n, mappingNode, path) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.children); i += 2 {
			kn, vn := n.children[i], n.children[i+1]
			key := kn.value
			if first, dup := seen[key]; dup {
				d.addf(nodePos(kn), "duplicate key %q (first at line %d)", key, first)
				continue
			}
			seen[key] = kn.pos.Line
			p := joinPath(path, key)
			d.key[p] = nodePos(kn)
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(vn, ev, p)
			v.SetMapIndex(reflect.ValueOf(key), ev)
		}
	case reflect.Slice:
		if !d.expect(n, sequenceNode, path) {
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.children), len(n.children))
		for i, en := range n.children {
			d.decode(en, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	case reflect.String:
		if d.expect(n, scalarNode, path) {
			v.SetString(n.value)
		}
	case reflect.Int, reflect.Int64:
		if !d.expect(n, scalarNode, path) {
			return
		}
		i, err := strconv.ParseInt(n.value, 10, 64)
		if err != nil || (v.Kind() == reflect.Int && (i > math.MaxInt32 || i < math.MinInt32)) {
			d.fail(path, n, "%s: %q is not a whole number in range", fieldName(path), n.value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if !d.expect(n, scalarNode, path) {
			return
		}
		f, err := strconv.ParseFloat(n.value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(path, n, "%s: %q is not a number", fieldName(path), n.value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if !d.expect(n, scalarNode, path) {
			return
		}
		switch strings.ToLower(n.value) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(path, n, "%s: %q is not true or false", fieldName(path), n.value)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s", v.Type()))
	}
}

func (d *decoder) decodeDuration(n *node, v reflect.Value, path string) {
	if !d.expect(n, scalarNode, path) {
		return
	}
	dur, err := time.ParseDuration(n.value)
	if err != nil {
		d.fail(path, n, "%s: %q is not a duration (write it like 2s or 150ms)", fieldName(path), n.value)
		return
	}
	v.Set(reflect.ValueOf(Duration(dur)))
}

// expect reports a kind mismatch and returns false.
func (d *decoder) expect(n *node, kind nodeKind, path string) bool {
	if n.kind == kind {
		return true
	}
	d.fail(path, n, "%s: expected %s, got %s", fieldName(path), kindName(kind), kindName(n.kind))
	return false
}

// structFields maps the YAML names of a struct's fields (following inline
// fields) to their indexes.
func structFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			for k, idx := range structFields(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

// decodeStruct decodes mapping n into struct v. extra, when set, is offered
// the keys the struct does not know before they are reported as unknown.
func (d *decoder) decodeStruct(n *node, v reflect.Value, path string, extra func(kn, vn *node) bool) {
	fields := structFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.children); i += 2 {
		kn, vn := n.children[i], n.children[i+1]
		key := kn.value
		if first, dup := seen[key]; dup {
			d.addf(nodePos(kn), "duplicate key %q (first at line %d)", key, first)
			continue
		}
		seen[key] = kn.pos.Line
		idx, ok := fields[key]
		if !ok {
			if extra != nil && extra(kn, vn) {
				continue
			}
			d.addf(nodePos(kn), "unknown field %q%s", key, suggest(key, fields))
			continue
		}
		p := joinPath(path, key)
		d.key[p] = nodePos(kn)
		d.decode(vn, v.FieldByIndex(idx), p)
	}
}

// decodeProvider decodes a provider: its type picks which settings are
// allowed beside the common ones.
func (d *decoder) decodeProvider(n *node, p *Provider, path string) {
	if !d.expect(n, mappingNode, path) {
		return
	}
	for i := 0; i+1 < len(n.children); i += 2 {
		if n.children[i].value == "type" {
			d.key[joinPath(path, "type")] = nodePos(n.children[i])
			d.decode(n.children[i+1], reflect.ValueOf(&p.Type).Elem(), joinPath(path, "type"))
		}
	}
	var specific reflect.Value
	switch p.Type {
	case ProviderEmbedded:
	case ProviderRFC2136:
		p.RFC2136 = &RFC2136Settings{}
		specific = reflect.ValueOf(p.RFC2136).Elem()
	case ProviderRoute53:
		p.Route53 = &Route53Settings{}
		specific = reflect.ValueOf(p.Route53).Elem()
	case ProviderCloudDNS:
		p.CloudDNS = &CloudDNSSettings{}
		specific = reflect.ValueOf(p.CloudDNS).Elem()
	case ProviderAzureDNS:
		p.AzureDNS = &AzureDNSSettings{}
		specific = reflect.ValueOf(p.AzureDNS).Elem()
	default:
		// Reported by validation, which knows whether type is missing or
		// wrong; the other keys cannot be judged without a type.
		return
	}
	var specificFields map[string][]int
	if specific.IsValid() {
		specificFields = structFields(specific.Type())
	}
	common := reflect.ValueOf(&p.Common).Elem()
	commonFields := structFields(common.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.children); i += 2 {
		kn, vn := n.children[i], n.children[i+1]
		key := kn.value
		if first, dup := seen[key]; dup {
			d.addf(nodePos(kn), "duplicate key %q (first at line %d)", key, first)
			continue
		}
		seen[key] = kn.pos.Line
		if key == "type" {
			continue
		}
		fp := joinPath(path, key)
		if idx, ok := specificFields[key]; ok {
			d.key[fp] = nodePos(kn)
			d.decode(vn, specific.FieldByIndex(idx), fp)
			continue
		}
		if idx, ok := commonFields[key]; ok {
			d.key[fp] = nodePos(kn)
			d.decode(vn, common.FieldByIndex(idx), fp)
			continue
		}
		all := map[string][]int{"type": nil}
		for k, v := range specificFields {
			all[k] = v
		}
		for k, v := range commonFields {
			all[k] = v
		}
		d.addf(nodePos(kn), "unknown field %q for provider type %q%s", key, p.Type, suggest(key, all))
	}
}

// suggest returns `, did you mean "x"?` for a near miss, else "".
func suggest(key string, fields map[string][]int) string {
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if dist := editDistance(key, name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(k nodeKind) string {
	switch k {
	case mappingNode:
		return "a mapping"
	case sequenceNode:
		return "a list"
	case scalarNode:
		return "a single value"
	case nullNode:
		return "nothing"
	}
	return "nothing"
}

// fieldName turns a path into what a user calls the field: the last key,
// with the index of a list element ("pools[1]").
func fieldName(path string) string {
	if path == "" {
		return "config"
	}
	i := strings.LastIndexByte(path, '.')
	return path[i+1:]
}
