package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-dns/switchboard/api"
)

func newStatusCmd(g *globals) *cobra.Command {
	var addr string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's view: role, leader, index, zones, endpoints with their votes, records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st api.NodeStatus
			if err := newAPIClient(addr).do(cmd.Context(), "GET", "/v1/status", nil, &st); err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				return printJSON(g.stdout, st)
			}
			var cs api.ClusterStatus
			if err := newAPIClient(addr).do(cmd.Context(), "GET", "/v1/cluster", nil, &cs); err == nil {
				printCluster(g.stdout, &cs)
				fmt.Fprintln(g.stdout)
			} else {
				fmt.Fprintf(g.stdout, "cluster: %v\n\n", err)
			}
			printStatus(g.stdout, &st)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "api", "", "API address of a node (default $SWITCHBOARD_API or "+defaultAPI+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return cmd
}

func printStatus(w io.Writer, st *api.NodeStatus) {
	fmt.Fprintf(w, "node %s  role %s  leader %s  applied %d  state %d  policy v%d\n", st.ID, st.Role, st.Leader, st.AppliedIndex, st.StateIndex, st.PolicyVersion)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ZONE\tGENERATION\tSERVING SERIAL")
	for _, z := range st.Zones {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", z.Origin, z.Generation, z.Serial)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tADDRESS\tCLOUD/REGION\tCONSENSUS\tDOWN/NEED\tVOTES\tSINCE")
	for _, e := range st.Endpoints {
		state := "up"
		if !e.Up {
			state = "DOWN"
		}
		if e.Override != "" {
			state += " (override)"
		}
		if e.Drill != "" {
			state += " (drill " + e.Drill + ")"
		}
		var votes []string
		for _, v := range e.Votes {
			s := v.Observer + "=up"
			if !v.Up {
				s = v.Observer + "=down"
			}
			if !v.Counted {
				s += "(dead)"
			}
			votes = append(votes, s)
		}
		since := ""
		if !e.Since.IsZero() {
			since = e.Since.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%d/%d\t%s\t%s\n", e.Endpoint, e.Address, e.Cloud, e.Region, state, e.Down, e.Need, strings.Join(votes, " "), since)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(st.Sync) > 0 {
		wanted := map[string]uint64{}
		for _, z := range st.Zones {
			wanted[z.Origin] = z.Generation
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROVIDER\tZONE\tWANTED\tAPPLIED\tVERIFIED\tPOLICY\tAT\tSTATE")
		for _, s := range st.Sync {
			state := "in sync"
			switch {
			case s.Error != "":
				state = "ERROR: " + s.Error
			case s.Unverified:
				state = "UNVERIFIED: its nameservers did not answer the applied content in time"
			case s.Verified < wanted[s.Zone]:
				state = fmt.Sprintf("LAGGING %d generation(s)", wanted[s.Zone]-s.Verified)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\tv%d\t%s\t%s\n", s.Provider, s.Zone, wanted[s.Zone], s.Applied, s.Verified, s.Policy, s.At.Format(time.RFC3339), state)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, d := range st.Drills {
		fmt.Fprintf(w, "DRILL %s: %s %s, %s, deadline %s\n", d.ID, d.Mode, d.Scope, d.State, d.Deadline.Format(time.RFC3339))
	}
	if len(st.Drills) > 0 {
		fmt.Fprintln(w)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tTYPE\tANSWER\tNOTE")
	for _, r := range st.Records {
		note := ""
		switch {
		case r.Panic:
			note = "PANIC HOLD: " + strings.Join(r.Held, ",")
		case r.Answer.AllDown:
			note = "all down: when_all_down"
		case r.Answer.Pool != "":
			note = "pool " + r.Answer.Pool
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Type, strings.Join(r.Answer.Addresses, ","), note)
	}
	tw.Flush()
}
