package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
)

// Load reads, decodes, defaults and validates the config file at path. The
// error, when there is one, is [Errors] with every problem found (or a
// plain error when the file cannot be read).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates one config document; file names it
// in error messages. The node and cluster sections are validated when
// present; a file without them is a policy file (for plan and apply).
func Parse(file string, data []byte) (*Config, error) {
	cfg, pos, errs := decodeFile(file, data)
	if cfg == nil {
		return nil, errs
	}
	// Validation runs even after decoding errors, so that one run shows
	// every problem; values that failed to decode are not judged again.
	cfg.applyDefaults(pos.has)
	v := &validator{positions: pos, badAddress: map[string]bool{}}
	if pos.has("node") || pos.has("cluster") {
		v.node(&cfg.Node, &cfg.Cluster)
	}
	v.policy(&cfg.Policy)
	if len(v.errs) > 0 {
		v.sort()
		return nil, v.errs
	}
	cfg.hasNode = pos.has("node")
	return cfg, nil
}

// HasNode reports whether the file had a node section, which serve needs.
func (c *Config) HasNode() bool { return c.hasNode }

func decodeFile(file string, data []byte) (*Config, *positions, Errors) {
	pos := newPositions(file)
	root, extra, err := parseYAML(data)
	if err != nil {
		var ue *errUnsupported
		if errors.As(err, &ue) {
			pos.addf(ue.pos, "%s", ue.msg)
		} else {
			p, msg := yamlSyntaxError(err)
			pos.addf(p, "%s", msg)
		}
		return nil, pos, pos.errs
	}
	if root == nil {
		pos.addf(Pos{Line: 1, Col: 1}, "empty config")
		return nil, pos, pos.errs
	}
	if len(extra) > 0 {
		pos.addf(extra[0].pos, "a config file holds one YAML document; found a second")
	}
	if root.kind != mappingNode {
		pos.addf(root.pos, "config: expected a mapping at the top level, got %s", kindName(root.kind))
		return nil, pos, pos.errs
	}
	cfg := &Config{}
	d := &decoder{positions: pos}
	pos.value[""] = Pos{Line: 1, Col: 1}
	d.decodeStruct(root, reflect.ValueOf(cfg).Elem(), "", nil)
	return cfg, pos, pos.errs
}

// PolicyFromJSON decodes a policy that was serialised with [Policy.JSON]
// (the Raft log's form) and validates it; errors carry paths instead of
// positions.
func PolicyFromJSON(data []byte) (*Policy, error) {
	p := &Policy{}
	if err := jsonUnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("config: policy: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate fills defaults and checks the policy's semantics, normalising
// names in place. It is what [Parse] runs, for policies that arrive without
// a file (through the API); errors name the field by path.
func (p *Policy) Validate() error {
	p.applyDefaults(zeroUnset)
	v := &validator{positions: newPositions(""), badAddress: map[string]bool{}}
	v.policy(p)
	if len(v.errs) > 0 {
		v.sort()
		return v.errs
	}
	return nil
}
