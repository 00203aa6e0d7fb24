package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/config"
)

func newValidateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config or policy file; print ok, or every error as FILE:LINE:COL: message",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			_, err := config.Load(args[0])
			if err == nil {
				fmt.Fprintln(g.stdout, "ok")
				return nil
			}
			var errs config.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					fmt.Fprintln(g.stdout, e.Error())
				}
				return &exitError{code: 1}
			}
			return &exitError{code: 1, err: err}
		},
	}
}
