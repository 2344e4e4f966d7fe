// Package asynctest holds the end-to-end tests of the async commands (ids
// 1..44 of seed/async.md): each test starts a real host on 127.0.0.1 (most
// of them through HOST_CERT and TLS), connects real clients (pkg/client),
// triggers the async with the real command where one exists or with a
// test-only in-process module otherwise, and checks the exact frames every
// client receives (or that it receives nothing) and the session state that
// changed. The package has no non-test code; docs/async.md describes the
// behaviour these tests pin down.
package asynctest
