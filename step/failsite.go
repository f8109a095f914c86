package step

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template/parse"

	"helm.sh/helm/v3/pkg/chart"
)

// failSite finds the `required` or `fail` call that produced msg. Helm reports these errors at
// the template being executed (the file that included a helper), keeping only the message; the
// call's own file and line are found by parsing every template of the tree and matching the
// calls' literal messages (a `printf` format matches too). It answers only when exactly one
// call outside the executing file matches: a message also raised in that file, or by several
// helpers, keeps Helm's location.
func failSite(ch *chart.Chart, msg, executing string) (templateLoc, bool) {
	var sites []templateLoc
	direct := false
	forEachTemplate(ch, func(name, text string) {
		trees := map[string]*parse.Tree{}
		t := parse.New(name)
		t.Mode = parse.SkipFuncCheck
		if _, err := t.Parse(text, "{{", "}}", trees); err != nil {
			return
		}
		for _, tree := range trees {
			walkNodes(tree.Root, func(n parse.Node) {
				cmd, ok := n.(*parse.CommandNode)
				if !ok || len(cmd.Args) < 2 {
					return
				}
				id, ok := cmd.Args[0].(*parse.IdentifierNode)
				if !ok || (id.Ident != "required" && id.Ident != "fail") || !messageMatches(cmd.Args[1], msg) {
					return
				}
				loc, _ := tree.ErrorContext(cmd)
				site, ok := parseLoc(loc)
				if !ok {
					return
				}
				if site.name == executing {
					direct = true
				}
				sites = append(sites, site)
			})
		}
	})
	if direct || len(sites) != 1 {
		return templateLoc{}, false
	}
	return sites[0], true
}

// forEachTemplate visits every template of the chart tree by the name Helm's engine gives it.
func forEachTemplate(ch *chart.Chart, visit func(name, text string)) {
	for _, t := range ch.Templates {
		if t != nil {
			visit(path.Join(ch.ChartFullPath(), t.Name), string(t.Data))
		}
	}
	for _, d := range ch.Dependencies() {
		forEachTemplate(d, visit)
	}
}

var verbRE = regexp.MustCompile(`%[-+# 0-9.*]*[a-zA-Z%]`)

// messageMatches: a string literal equal to msg, or (printf "format" ...) whose format
// matches it.
func messageMatches(arg parse.Node, msg string) bool {
	switch a := arg.(type) {
	case *parse.StringNode:
		return a.Text == msg
	case *parse.PipeNode:
		if len(a.Cmds) != 1 || len(a.Cmds[0].Args) < 2 {
			return false
		}
		id, ok := a.Cmds[0].Args[0].(*parse.IdentifierNode)
		format, ok2 := a.Cmds[0].Args[1].(*parse.StringNode)
		if !ok || !ok2 || id.Ident != "printf" {
			return false
		}
		parts := verbRE.Split(format.Text, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re, err := regexp.Compile("^(?s)" + strings.Join(parts, ".*") + "$")
		return err == nil && re.MatchString(msg)
	}
	return false
}

func walkNodes(n parse.Node, visit func(parse.Node)) {
	if n == nil {
		return
	}
	visit(n)
	switch t := n.(type) {
	case *parse.ListNode:
		if t == nil {
			return
		}
		for _, c := range t.Nodes {
			walkNodes(c, visit)
		}
	case *parse.ActionNode:
		walkNodes(t.Pipe, visit)
	case *parse.PipeNode:
		if t == nil {
			return
		}
		for _, c := range t.Cmds {
			walkNodes(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range t.Args {
			walkNodes(a, visit)
		}
	case *parse.ChainNode:
		walkNodes(t.Node, visit)
	case *parse.IfNode:
		walkBranch(&t.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&t.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&t.BranchNode, visit)
	case *parse.TemplateNode:
		walkNodes(t.Pipe, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walkNodes(b.Pipe, visit)
	if b.List != nil {
		walkNodes(b.List, visit)
	}
	if b.ElseList != nil {
		walkNodes(b.ElseList, visit)
	}
}

// parseLoc reads text/template's "name:line:col".
func parseLoc(s string) (templateLoc, bool) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return templateLoc{}, false
	}
	j := strings.LastIndex(s[:i], ":")
	if j < 0 {
		return templateLoc{}, false
	}
	line, err1 := strconv.Atoi(s[j+1 : i])
	col, err2 := strconv.Atoi(s[i+1:])
	if err1 != nil || err2 != nil {
		return templateLoc{}, false
	}
	return templateLoc{name: s[:j], line: line, col: col}, true
}
