package main

import (
	"fmt"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
)

func newApplyCmd(g *globals) *cobra.Command {
	var file, addr string
	var expect uint64
	var force bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Validate a policy file and commit it to the cluster as a new version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadPolicyFile(g, file)
			if err != nil {
				return err
			}
			if addr == "" && cfg.HasNode() {
				addr = cfg.Node.APIListen
			}
			by := "switchboard apply"
			if u, err := user.Current(); err == nil {
				by = u.Username + " (switchboard apply)"
			}
			c := newAPIClient(addr)
			// Show what the new version changes, then commit it against
			// the version the plan was made from, so that a concurrent
			// apply in between is refused rather than overwritten.
			var plan api.PlanResponse
			if err := c.do(cmd.Context(), "POST", "/v1/plan", api.PolicyRequest{Policy: cfg.Policy.JSON()}, &plan); err != nil {
				return &exitError{code: 1, err: err}
			}
			printPlan(g.stdout, &plan)
			if expect == 0 {
				expect = plan.Version
			}
			var resp api.PolicyResponse
			if err := c.do(cmd.Context(), "POST", "/v1/policy", api.PolicyRequest{Policy: cfg.Policy.JSON(), Expect: expect, By: by, Force: force}, &resp); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(g.stdout, "committed policy version %d (log index %d)\n", resp.Version, resp.Index)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (required)")
	cmd.Flags().StringVar(&addr, "api", "", "API address of any node (default: the file's node.api_listen, $SWITCHBOARD_API, or "+defaultAPI+")")
	cmd.Flags().Uint64Var(&expect, "expect", 0, "refuse unless the committed version is this one (default: the version the shown plan was made against)")
	cmd.Flags().BoolVar(&force, "force", false, "commit even if the policy withdraws more than a record's panic threshold of its healthy endpoints")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
