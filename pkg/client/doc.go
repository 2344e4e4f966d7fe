// Package client is a Go client library for MRCI hosts (wire version 2.x,
// the protocol spoken by the Cmdr 2.x desktop client).
//
// # Connecting
//
// [Dial] opens a TCP connection, exchanges the 410-byte client header and the
// 35-byte host header, performs the client-initiated TLS handshake when the
// host asks for it (reply 2: the host first sends its certificate as a
// plaintext HOST_CERT frame) and returns once the host has sent ASYNC_RDY.
// How the host certificate is verified is chosen in [Options]: a pinned
// certificate or fingerprint ([Options.PinnedCert]), a CA pool
// ([Options.RootCAs]), blind trust in whatever HOST_CERT says
// ([Options.TrustHostCert], what Cmdr does) or, when none is set, the
// system's root CAs.
//
// # Frames and goroutines
//
// One reader goroutine per [Client] reads every frame from the host:
//
//   - frames on command ids 1..255 are async frames. ASYNC_ADD_CMD and
//     ASYNC_RM_CMD maintain the command table ([Client.Commands],
//     [Client.CommandID], [Client.WaitCommand]), MY_INFO on ASYNC_SYS_MSG
//     updates [Client.MyInfo], and every async frame is also delivered on
//     [Client.Async];
//   - frames on command ids ≥ 256 are routed to the [Call] that owns the
//     (command id, branch id) pair; frames for which no call exists are
//     discarded.
//
// The reader never blocks on a slow consumer: the async channel drops its
// oldest frame when full (see [Client.Async]) and every call has its own
// unbounded queue capped by [Options.MaxCallBuffer].
//
// # Running commands
//
// Commands are addressed by name; the host announces names and assigns ids
// per session. [Client.Start] opens a [Call] on a free branch of a command
// (so one command can run several times at once), [Client.Run] runs a
// non-interactive command to completion, [Client.RunInteractive] answers
// prompts through a [Prompter], and [Client.Login] drives the host's auth
// command.
//
// # Wire types
//
// Frames, type ids, async ids and the payload structures (MY_INFO,
// PEER_INFO, CH_MEMBER_INFO, ...) are the types of package
// [github.com/mrci/mrci/pkg/mrciwire], which also decodes them; a program
// needs no other package of this repository.
//
// All methods are safe for concurrent use. Every blocking method honours its
// context and returns promptly, with an error wrapping [ErrConnectionLost]
// or [ErrClosed], when the connection ends.
package client
