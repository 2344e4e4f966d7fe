// Package modsdk writes MRCI host modules in Go: stand-alone executables
// that add commands to an MRCI host (docs/modules.md, spec modules.md).
//
// A module declares its commands and hands control to [Module.Main]:
//
//	func main() {
//		m := &modsdk.Module{Library: "hello 1.0"}
//		m.Add(&modsdk.Command{
//			Name: "hello", Summary: "say hello.", IO: "[{-name (text)}]/[text]",
//			Public: true, Exempt: true,
//			Run: func(ctx context.Context, c *modsdk.Call) error {
//				return c.Text("hello, " + c.Param("-name") + "\n")
//			},
//		})
//		m.Main()
//	}
//
// # What the SDK does
//
// The host starts the executable with the command line of the spec
// (modules.md §3.1):
//
//	<module> -pipe_name <socket> -mem_ses <file> -mem_host <file> <mode>
//
// where <mode> is -public_cmds, -exempt_cmds, -user_cmds (listing) or
// -run_cmd NAME (run). [Module.Main] parses it, connects to the pipe and
//
//   - in listing mode sends one NEW_CMD frame per command of the category
//     (Public, Exempt, User), answers the host's HOST_VER with IDLE and
//     exits;
//   - in run mode serves one command instance — one (command id, branch
//     id) of one session — for as long as the host keeps the process:
//     every frame of an accepted type (TEXT by default) that arrives while
//     no call is running starts a call of [Command.Run]; frames arriving
//     during a call are its input ([Call.Prompt], [Call.Recv]); when Run
//     returns the SDK sends IDLE (after an ERR frame if Run returned an
//     error). TERM_CMD cancels the call's context, KILL_CMD cancels it and
//     ends the process (after the call's IDLE, within 2 seconds),
//     HALT_CMD/RESUME_CMD are reported by [Call.Halted] and waited for by
//     [Call.WaitResumed]. While a call runs, the SDK sends ASYNC_KEEP_ALIVE
//     every [Module.KeepAlive] so the host's 2-minute idle timer does not
//     end a call that waits for its user.
//
// # Session data
//
// [Call.Session] returns the calling session's state (session id, user,
// rank, open sub-channels, peers, ...) read from the session data file
// the host keeps up to date; [Call.HostSessions] returns the host's live
// session count. The mechanism — memory-mapped files with a seqlock, laid
// out like the original's shared memory — is described in docs/modules.md
// and hidden here.
//
// # Async commands
//
// [Call.Emit] emits any async command (PRIV_IPC, PUB_IPC or
// PUB_IPC_WITH_FEEDBACK). The host checks everything an external module
// emits: privileged asyncs (logins, host exit/restart, ...) are refused,
// casts must be routed by the session's writable sub-channel list, which
// [Call.Cast] does for you.
package modsdk
