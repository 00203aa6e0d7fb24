package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/config"
	"github.com/switchboard-dns/switchboard/zone"
)

// Exit codes of `switchboard plan`, as terraform's -detailed-exitcode.
const (
	planNoChanges = 0
	planError     = 1
	planChanges   = 2
)

func newPlanCmd(g *globals) *cobra.Command {
	var file, addr string
	var force bool
	cmd := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "Show, per provider, what committing a policy file would add, change and remove (exit 0: no changes, 2: changes, 1: error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadPolicyFile(g, file)
			if err != nil {
				return err
			}
			if addr == "" && cfg.HasNode() {
				addr = cfg.Node.APIListen
			}
			var plan api.PlanResponse
			if err := newAPIClient(addr).do(cmd.Context(), "POST", "/v1/plan", api.PolicyRequest{Policy: cfg.Policy.JSON()}, &plan); err != nil {
				return &exitError{code: planError, err: err}
			}
			printPlan(g.stdout, &plan)
			if len(plan.Capacity) > 0 && !force {
				return &exitError{code: planError, err: errors.New("apply would refuse this policy: it withdraws most of the healthy capacity of some records (plan --force to plan it anyway)")}
			}
			if plan.Changes() > 0 {
				return &exitError{code: planChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (required)")
	cmd.Flags().StringVar(&addr, "api", "", "API address of any node (default: the file's node.api_listen, $SWITCHBOARD_API, or "+defaultAPI+")")
	cmd.Flags().BoolVar(&force, "force", false, "plan a policy that withdraws most of some record's healthy capacity without failing")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// loadPolicyFile loads and validates a file, printing every error as
// FILE:LINE:COL: message.
func loadPolicyFile(g *globals, file string) (*config.Config, error) {
	cfg, err := config.Load(file)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(g.stdout, e.Error())
			}
			return nil, &exitError{code: 1}
		}
		return nil, &exitError{code: 1, err: err}
	}
	return cfg, nil
}

// printPlan prints a plan provider by provider, in rollout order.
func printPlan(w io.Writer, p *api.PlanResponse) {
	if p.Version == 0 {
		fmt.Fprintln(w, "plan against: no committed policy yet")
	} else {
		fmt.Fprintf(w, "plan against policy version %d\n", p.Version)
	}
	changed := 0
	for _, pp := range p.Providers {
		typ := ""
		if pp.Type != "" && pp.Type != pp.Provider {
			typ = " (" + pp.Type + ")"
		}
		fmt.Fprintf(w, "\nprovider %s%s, zone %s:", pp.Provider, typ, pp.Zone)
		if pp.Note != "" {
			fmt.Fprintf(w, " %s", pp.Note)
		}
		if len(pp.Changes) == 0 {
			fmt.Fprintln(w, " no changes")
			continue
		}
		fmt.Fprintln(w)
		changed++
		for _, c := range pp.Changes {
			switch c.Kind() {
			case "create":
				fmt.Fprintf(w, "  + %s  %s\n", c.Key, setText(c.New))
			case "delete":
				fmt.Fprintf(w, "  - %s  %s\n", c.Key, setText(c.Old))
			default:
				fmt.Fprintf(w, "  ~ %s  %s → %s\n", c.Key, setText(c.Old), setText(c.New))
			}
		}
	}
	if len(p.Capacity) > 0 {
		fmt.Fprintln(w, "\nCAPACITY: this policy withdraws more than the panic threshold of the healthy endpoints behind:")
		for _, c := range p.Capacity {
			fmt.Fprintf(w, "  ! %s\n", c)
		}
	}
	if n := p.Changes(); n == 0 {
		fmt.Fprintln(w, "\nno changes")
	} else {
		fmt.Fprintf(w, "\n%d RRset changes on %d providers\n", n, changed)
	}
}

func setText(s *zone.RRset) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%s (ttl %d)", strings.Join(s.Data, ", "), s.TTL)
}
