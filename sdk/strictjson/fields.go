package strictjson

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// field is a struct field as encoding/json sees it.
type field struct {
	name   string
	typ    reflect.Type
	depth  int  // how many embedded structs deep
	tagged bool // named by a json tag
	quoted bool // `json:",string"`
}

// fieldSet is the fields of a struct type by their JSON names.
type fieldSet struct {
	byName map[string]field
	// names are the keys, in the order the fields are declared.
	names []string
	// unknown is the message for a key that is none of them.
	unknown string
}

// fieldCache holds fieldsOf's answers by type.
var fieldCache sync.Map // reflect.Type -> *fieldSet

// fieldsOf maps the JSON names of struct t's fields to them, as
// encoding/json names them: the tag's name, else the Go name; the fields of
// an embedded struct without a tag name are promoted, a shallower field
// hiding a deeper one, and a name given twice at the same depth (neither or
// both tagged) naming no field at all.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{unknown: "unknown key"}
	fs.byName, fs.names = jsonFields(t)
	if len(fs.names) > 0 {
		fs.unknown = "unknown key (known: " + strings.Join(fs.names, ", ") + ")"
	}
	stored, loaded := fieldCache.LoadOrStore(t, fs)
	if !loaded {
		addKeyTokens(fs.names)
	}
	return stored.(*fieldSet)
}

// keyTokens holds the JSON names of the fields of every struct type checked
// so far, each already made a json.Token, for validTokens to hand out
// without making a string and a Token for every key it reads. It only
// grows, with the types a program checks (a fixed set), and is replaced
// whole, so readers need no lock.
var (
	keyTokens   atomic.Pointer[map[string]json.Token]
	keyTokensMu sync.Mutex
)

// addKeyTokens adds names to keyTokens.
func addKeyTokens(names []string) {
	keyTokensMu.Lock()
	defer keyTokensMu.Unlock()
	var next map[string]json.Token
	if old := keyTokens.Load(); old != nil {
		next = maps.Clone(*old)
	} else {
		next = make(map[string]json.Token, len(names))
	}
	for _, name := range names {
		// Text that is not UTF-8 is read as encoding/json reads it
		// (with U+FFFD), so it is never handed out from here.
		if utf8.ValidString(name) {
			next[name] = name
		}
	}
	keyTokens.Store(&next)
}

// jsonFields returns the fields of struct t by name, and the names in the
// order the fields are declared (promoted ones after the others).
func jsonFields(t reflect.Type) (map[string]field, []string) {
	var all []field
	next := []reflect.Type{t}
	nextCount := map[reflect.Type]int{t: 1}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(next) > 0; depth++ {
		current, count := next, nextCount
		next, nextCount = nil, map[reflect.Type]int{}
		for _, st := range current {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := range st.NumField() {
				sf := st.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, typ: sf.Type, depth: depth, tagged: name != ""}
					if f.name == "" {
						f.name = sf.Name
					}
					if slices.Contains(strings.Split(opts, ","), "string") {
						switch ft.Kind() {
						case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
							reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
							f.quoted = true
						}
					}
					all = append(all, f)
					if count[st] > 1 {
						// The struct is embedded more than once at this
						// depth: its fields collide with themselves.
						all = append(all, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, ft)
				}
			}
		}
	}
	byName := map[string][]field{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	m := make(map[string]field, len(byName))
	for name, fs := range byName {
		slices.SortStableFunc(fs, func(a, b field) int {
			if a.depth != b.depth {
				return a.depth - b.depth
			}
			switch {
			case a.tagged == b.tagged:
				return 0
			case a.tagged:
				return -1
			}
			return 1
		})
		if len(fs) > 1 && fs[0].depth == fs[1].depth && fs[0].tagged == fs[1].tagged {
			continue // ambiguous: encoding/json fills neither
		}
		m[name] = fs[0]
	}
	var names []string
	for _, f := range all {
		if _, ok := m[f.name]; ok && !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	return m, names
}

// isValidTag is encoding/json's rule for a usable tag name.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
