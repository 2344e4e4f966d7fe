package cmds

import (
	"context"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/wire"
)

// anyData lists every frame type that starts cast and to_peer: all type
// ids 1..255 except the command-control types.
var anyData = func() []wire.TypeID {
	var ts []wire.TypeID
	for t := 1; t <= 255; t++ {
		if !wire.TypeID(t).IsControl() {
			ts = append(ts, wire.TypeID(t))
		}
	}
	return ts
}()

func castCommands() []*module.Command {
	return []*module.Command{
		{
			Def: def("cast", "send a frame to every session on your writable sub-channels.", "[any]/[any]",
				"Broadcasts the frame you send (of any type, with any payload) to every other session that "+
					"has one of your writable open sub-channels open; they receive it unchanged under the "+
					"ASYNC_CAST command id. You do not receive your own cast."),
			In: userOnly, Accepts: anyData, MaxArgs: 0, Run: runCast, Inline: true,
		},
		{
			Def: def("ping_peers", "ask the peers on your active sub-channels to identify themselves.", "[none]/[PEER_INFO]",
				"Every active peer sharing an open sub-channel with you receives your PEER_INFO and answers "+
					"with its own, which arrives under ASYNC_TO_PEER."),
			In: userOnly, MaxArgs: 0, Run: runPingPeers, Inline: true,
		},
	}
}

// castPayload builds the ASYNC_CAST data: [54 writable list][1 type][payload].
func castPayload(writable *wire.SubChannelList, t wire.TypeID, payload []byte) []byte {
	b := writable.Append(make([]byte, 0, wire.SubChannelListLen+1+len(payload)))
	b = append(b, byte(t))
	return append(b, payload...)
}

func runCast(ctx context.Context, c *module.Call) error {
	s := c.Session()
	if s.Writable.Len() == 0 {
		if s.Open.Len() > 0 {
			return module.Fail("every open sub-channel is read-only for you; open a sub-channel you may write to first")
		}
		return module.Fail("no sub-channel is open; open a sub-channel you may write to first (open_sub_ch)")
	}
	if c.Type == wire.TypePingPeers {
		return module.Fail("PING_PEERS frames cannot be cast; use ping_peers")
	}
	c.Emit(wire.TypePubIPC, wire.AsyncCast, castPayload(&s.Writable, c.Type, c.Payload))
	return nil
}

func runPingPeers(ctx context.Context, c *module.Call) error {
	if !c.Session().Active {
		return module.Fail("no active-update sub-channel is open, peers could not answer")
	}
	c.Emit(wire.TypePrivIPC, wire.AsyncPingPeers, nil)
	return nil
}
