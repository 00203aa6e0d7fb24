package config

import (
	"errors"
	"fmt"

	goyaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// nodeKind is the shape of a YAML value.
type nodeKind int

const (
	scalarNode nodeKind = iota + 1
	nullNode
	mappingNode
	sequenceNode
)

// node is a YAML value with its position: the small tree the decoder
// walks, built from goccy/go-yaml's AST so that the decoder does not depend
// on the library's node types. goccy/go-yaml is used because its syntax
// errors carry exact structured positions.
type node struct {
	kind  nodeKind
	value string // scalars: the text; mapping keys likewise
	pos   Pos
	// Mappings hold keys and values alternately; sequences their items.
	children []*node
}

// parseYAML parses one YAML document into a node tree. Duplicate keys are
// allowed through here so that the decoder reports all of them.
func parseYAML(data []byte) (*node, []*node, error) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, nil, err
	}
	var docs []*node
	for _, d := range f.Docs {
		if d.Body == nil {
			continue
		}
		c := converter{anchors: map[string]ast.Node{}}
		n, err := c.convert(d.Body, 0)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, n)
	}
	if len(docs) == 0 {
		return nil, nil, nil
	}
	return docs[0], docs[1:], nil
}

// yamlSyntaxError returns the position and message of a parse error.
func yamlSyntaxError(err error) (Pos, string) {
	var se *goyaml.SyntaxError
	if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
		return Pos{Line: se.Token.Position.Line, Col: se.Token.Position.Column}, "yaml: " + se.Message
	}
	return Pos{Line: 1, Col: 1}, "yaml: " + err.Error()
}

type converter struct {
	anchors map[string]ast.Node
}

// errUnsupported reports YAML features the config does not accept.
type errUnsupported struct {
	pos Pos
	msg string
}

func (e *errUnsupported) Error() string { return e.msg }

func posOf(n ast.Node) Pos {
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{Line: 1, Col: 1}
	}
	return Pos{Line: t.Position.Line, Col: t.Position.Column}
}

func (c *converter) convert(n ast.Node, depth int) (*node, error) {
	if depth > 64 {
		return nil, &errUnsupported{posOf(n), "yaml: nesting too deep"}
	}
	switch v := n.(type) {
	case *ast.NullNode:
		return &node{kind: nullNode, pos: posOf(v)}, nil
	case *ast.StringNode:
		return &node{kind: scalarNode, value: v.Value, pos: posOf(v)}, nil
	case *ast.LiteralNode:
		return &node{kind: scalarNode, value: v.Value.Value, pos: posOf(v)}, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return &node{kind: scalarNode, value: n.GetToken().Value, pos: posOf(n)}, nil
	case *ast.TagNode:
		return c.convert(v.Value, depth+1)
	case *ast.AnchorNode:
		if name, ok := v.Name.(*ast.StringNode); ok {
			c.anchors[name.Value] = v.Value
		}
		return c.convert(v.Value, depth+1)
	case *ast.AliasNode:
		name := ""
		if s, ok := v.Value.(*ast.StringNode); ok {
			name = s.Value
		}
		target, ok := c.anchors[name]
		if !ok {
			return nil, &errUnsupported{posOf(v), fmt.Sprintf("yaml: unknown anchor %q", name)}
		}
		out, err := c.convert(target, depth+1)
		if err != nil {
			return nil, err
		}
		cp := *out
		cp.pos = posOf(v)
		return &cp, nil
	case *ast.MappingNode:
		m := &node{kind: mappingNode, pos: posOf(v)}
		if len(v.Values) > 0 {
			m.pos = posOf(v.Values[0].Key)
		}
		for _, mv := range v.Values {
			if err := c.pair(m, mv, depth); err != nil {
				return nil, err
			}
		}
		return m, nil
	case *ast.MappingValueNode:
		// A mapping with a single key may come without a MappingNode.
		m := &node{kind: mappingNode, pos: posOf(v.Key)}
		if err := c.pair(m, v, depth); err != nil {
			return nil, err
		}
		return m, nil
	case *ast.SequenceNode:
		s := &node{kind: sequenceNode, pos: posOf(v)}
		for _, item := range v.Values {
			cn, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			s.children = append(s.children, cn)
		}
		return s, nil
	}
	return nil, &errUnsupported{posOf(n), fmt.Sprintf("yaml: unsupported value of type %s", n.Type())}
}

func (c *converter) pair(m *node, mv *ast.MappingValueNode, depth int) error {
	if mv.Key.IsMergeKey() {
		return &errUnsupported{posOf(mv.Key), "yaml: merge keys (<<) are not supported; write the fields out"}
	}
	k, err := c.convert(mv.Key, depth+1)
	if err != nil {
		return err
	}
	if k.kind != scalarNode {
		return &errUnsupported{k.pos, "yaml: a mapping key must be a single value"}
	}
	var val *node
	if mv.Value == nil {
		val = &node{kind: nullNode, pos: k.pos}
	} else if val, err = c.convert(mv.Value, depth+1); err != nil {
		return err
	}
	m.children = append(m.children, k, val)
	return nil
}
