package main

import (
	"errors"
	"fmt"
	"os/user"

	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
	"github.com/switchboard-dns/switchboard/config"
)

func newApplyCmd(g *globals) *cobra.Command {
	var file, addr string
	var expect uint64
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Validate a policy file and commit it to the cluster as a new version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(file)
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					for _, e := range errs {
						fmt.Fprintln(g.stdout, e.Error())
					}
					return &exitError{code: 1}
				}
				return &exitError{code: 1, err: err}
			}
			if addr == "" && cfg.HasNode() {
				addr = cfg.Node.APIListen
			}
			by := "switchboard apply"
			if u, err := user.Current(); err == nil {
				by = u.Username + " (switchboard apply)"
			}
			var resp api.PolicyResponse
			c := newAPIClient(addr)
			if err := c.do(cmd.Context(), "POST", "/v1/policy", api.PolicyRequest{Policy: cfg.Policy.JSON(), Expect: expect, By: by}, &resp); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(g.stdout, "committed policy version %d (log index %d)\n", resp.Version, resp.Index)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (required)")
	cmd.Flags().StringVar(&addr, "api", "", "API address of any node (default: the file's node.api_listen, $SWITCHBOARD_API, or "+defaultAPI+")")
	cmd.Flags().Uint64Var(&expect, "expect", 0, "refuse unless the committed version is this one")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
