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

func newClusterCmd(g *globals) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Cluster membership: status, join, leave, remove",
	}
	cmd.PersistentFlags().StringVar(&addr, "api", "", "API address of the node to ask (default $SWITCHBOARD_API or "+defaultAPI+")")
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show every member: role, leader, last contact, applied index, generation and serial per zone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cs api.ClusterStatus
			if err := newAPIClient(addr).do(cmd.Context(), "GET", "/v1/cluster", nil, &cs); err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				return printJSON(g.stdout, cs)
			}
			printCluster(g.stdout, &cs)
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	join := &cobra.Command{
		Use:   "join RAFT-ADDR",
		Short: "Make the node at --api (a new node started with cluster.join or as an observer) join the cluster through the member at RAFT-ADDR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := newAPIClient(addr).do(cmd.Context(), "POST", "/v1/cluster/join", api.JoinRequest{Addr: args[0]}, nil); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(g.stdout, "joined through %s\n", args[0])
			return nil
		},
	}
	leave := &cobra.Command{
		Use:   "leave",
		Short: "Take the node at --api out of the cluster (stop it afterwards)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := newAPIClient(addr).do(cmd.Context(), "POST", "/v1/cluster/leave", nil, nil); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(g.stdout, "left the cluster")
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a member that is gone for good, or that lost its data dir so that it can join again as a new member",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := newAPIClient(addr).do(cmd.Context(), "POST", "/v1/cluster/remove", api.RemoveRequest{ID: args[0]}, nil); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintf(g.stdout, "removed %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(status, join, leave, remove)
	return cmd
}

func printCluster(w io.Writer, cs *api.ClusterStatus) {
	fmt.Fprintf(w, "cluster as seen by %s, leader %s\n", cs.From, orDash(cs.Leader))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tKIND\tCLOUD/REGION\tRAFT\tAPI\tROLE\tLEADER\tLAST CONTACT\tAPPLIED\tGENERATION/SERIAL\tOBSERVER")
	for _, m := range cs.Members {
		kind := "voter"
		if !m.Voter {
			kind = "observer"
		}
		if !m.Member {
			kind += " (removed)"
		}
		loc := orDash(strings.Trim(m.Cloud+"/"+m.Region, "/"))
		role, leader, contact, applied, zones := "unreachable", "-", "-", "-", "-"
		if m.Reached {
			role, leader, applied = m.Role, orDash(m.LeaderSeen), fmt.Sprint(m.AppliedIndex)
			if !m.LastContact.IsZero() {
				contact = time.Since(m.LastContact).Round(time.Millisecond).String() + " ago"
			}
			var zs []string
			for _, z := range m.Zones {
				zs = append(zs, fmt.Sprintf("%s %d/%d", z.Origin, z.Generation, z.Serial))
			}
			zones = orDash(strings.Join(zs, " "))
		} else if m.Error != "" {
			role = "unreachable: " + m.Error
		}
		obs := "-"
		if m.Alive != nil {
			obs = map[bool]string{true: "alive", false: "DEAD"}[*m.Alive]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, kind, loc, m.Raft, orDash(m.API), role, leader, contact, applied, zones, obs)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
