package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/pipeline/shard"
)

// withEmbedShards adds --shard i/n and `embfit embed concat` to the embed
// command.
func withEmbedShards(embed *cli.Command) *cli.Command {
	embed.Flags = append(embed.Flags, &cli.StringFlag{Name: "shard", Usage: "embed only shard `i/n` (0 ≤ i < n) of the input's records: rows [N·i/n, N·(i+1)/n); `embfit embed concat` joins the n outputs into the unsharded files"})
	embed.Subcommands = []*cli.Command{{
		Name:      "concat",
		Usage:     "join the outputs of embed --shard 0/n … n-1/n into the unsharded .npy and sidecar",
		UsageText: "embfit embed concat --out emb.npy shard-0.npy shard-1.npy …",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "embeddings .npy to write (its sidecar beside it)"},
		},
		Action: func(c *cli.Context) error {
			if err := requireFlags(c, "out"); err != nil {
				return err
			}
			if c.NArg() == 0 {
				return fmt.Errorf("no shard files given (embfit embed concat --out OUT SHARD.npy…)")
			}
			if err := shard.ConcatEmbeddings(c.String("out"), c.Args().Slice()); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "concatenated %d shards → %s\n", c.NArg(), c.String("out"))
			return nil
		},
	}}
	return embed
}

// embedShard parses --shard; n is 0 when it is not given.
func embedShard(c *cli.Context) (i, n int, err error) {
	if !c.IsSet("shard") {
		return 0, 0, nil
	}
	i, n, err = shard.ParseShard(c.String("shard"))
	if err != nil {
		return 0, 0, fmt.Errorf("--shard %w", err)
	}
	return i, n, nil
}
