package rpc

import (
	"fmt"
	"sort"
	"strings"
)

// buildMethods assembles the method table and the help order (by
// category, then name, as Core's help lists them).
func buildMethods() (map[string]*method, []*method) {
	var all []*method
	for _, group := range [][]*method{chainMethods(), mempoolMethods(), miningMethods(), stratumMethods(), netMethods(), walletMethods(), controlMethods(), adversaryMethods()} {
		all = append(all, group...)
	}
	table := make(map[string]*method, len(all))
	for _, m := range all {
		if _, dup := table[m.name]; dup {
			panic("rpc: duplicate method " + m.name) // a programming error caught by every test
		}
		table[m.name] = m
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].category != all[j].category {
			return all[i].category < all[j].category
		}
		return all[i].name < all[j].name
	})
	return table, all
}

// MethodNames returns the names of every RPC method, sorted (the bounded
// method label set of the metrics, and a list for documentation).
func MethodNames() []string {
	table, _ := buildMethods()
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// usageLine is Core's first help line: name, required args, (optional args).
func (m *method) usageLine() string {
	var b strings.Builder
	b.WriteString(m.name)
	opened := false
	for _, a := range m.args {
		if !a.required && !opened {
			b.WriteString(" (")
			opened = true
		}
		b.WriteByte(' ')
		switch a.typ {
		case "string":
			b.WriteString(`"` + a.name + `"`)
		case "array":
			b.WriteString(`["` + a.name + `",...]`)
		case "object":
			b.WriteString(`{` + a.name + `}`)
		default:
			b.WriteString(a.name)
		}
	}
	if opened {
		b.WriteString(" )")
	}
	return b.String()
}

// helpText is the full help of a method, in Core's layout.
func (m *method) helpText() string {
	var b strings.Builder
	b.WriteString(m.usageLine())
	b.WriteString("\n\n")
	b.WriteString(m.summary)
	b.WriteString("\n")
	if len(m.args) > 0 {
		b.WriteString("\nArguments:\n")
		for i, a := range m.args {
			req := "required"
			if !a.required {
				req = "optional"
				if a.def != "" {
					req += ", default=" + a.def
				}
			}
			fmt.Fprintf(&b, "%d. %-22s (%s, %s) %s\n", i+1, a.name, a.typ, req, a.desc)
		}
	}
	if m.result != "" {
		b.WriteString("\nResult:\n")
		b.WriteString(m.result)
		b.WriteString("\n")
	}
	b.WriteString("\nExamples:\n")
	if len(m.examples) == 0 {
		b.WriteString("> quarryctl " + m.name + "\n")
	}
	for _, e := range m.examples {
		b.WriteString("> quarryctl " + m.name + " " + e + "\n")
	}
	return b.String()
}

// helpIndex lists every method's usage line grouped by category.
func (s *Server) helpIndex() string {
	var b strings.Builder
	cat := ""
	for _, m := range s.order {
		if m.category != cat {
			if cat != "" {
				b.WriteString("\n")
			}
			cat = m.category
			b.WriteString("== " + cat + " ==\n")
		}
		b.WriteString(m.usageLine())
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
