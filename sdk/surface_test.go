package sdk_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// maxAuthorNames bounds what a plugin author reads in package sdk: the
// capability interfaces, their request and response types, the host
// services, the errors, Serve. Wire and serving machinery live under
// sdk/internal, the host side in sdk/hostside, the signal catalogue in
// sdk/signals.
const maxAuthorNames = 45

func TestAuthorSurfaceStaysSmall(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	files := []*ast.File{}
	for _, f := range pkgs["sdk"].Files {
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/portcullis-auth/portcullis/sdk")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	addValues := func(vs []*doc.Value) {
		for _, v := range vs {
			names = append(names, v.Names...)
		}
	}
	addValues(p.Consts)
	addValues(p.Vars)
	for _, f := range p.Funcs {
		names = append(names, f.Name)
	}
	for _, typ := range p.Types {
		names = append(names, typ.Name)
		addValues(typ.Consts)
		addValues(typ.Vars)
		for _, f := range typ.Funcs {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	if len(names) > maxAuthorNames {
		t.Errorf("package sdk exports %d names, more than %d: %s", len(names), maxAuthorNames, strings.Join(names, " "))
	}
	t.Logf("package sdk exports %d names", len(names))
}

// The SDK could become a module of its own: nothing under sdk/ imports a
// package of this module outside sdk/.
func TestSDKImportsNothingOfTheProduct(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/portcullis-auth/portcullis/"
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) && !strings.HasPrefix(p, module+"sdk/") && p != module+"sdk" {
			t.Errorf("the SDK depends on %s", p)
		}
	}
}
