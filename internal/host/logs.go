package host

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mrci/mrci/internal/store"
)

// asyncLog writes activity and debug log rows from one goroutine, so a
// connection never waits for the database to record that it came or went.
// Rows that arrive while a write is in progress are written together in
// the next transaction. When more than logQueue rows are pending, new rows
// are dropped and the loss is reported in the process log.
type asyncLog struct {
	st     store.Store
	log    *slog.Logger
	notify chan struct{}
	done   chan struct{}

	mu      sync.Mutex
	acts    []store.Activity
	debug   []string
	closed  bool
	dropped int
}

const logQueue = 8192

func newAsyncLog(st store.Store, log *slog.Logger) *asyncLog {
	l := &asyncLog{st: st, log: log, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *asyncLog) run() {
	defer close(l.done)
	ctx := context.Background()
	for {
		<-l.notify
		l.mu.Lock()
		acts, debug, closed, dropped := l.acts, l.debug, l.closed, l.dropped
		l.acts, l.debug, l.dropped = nil, nil, 0
		l.mu.Unlock()
		if dropped > 0 {
			l.log.Warn("log queue full; rows dropped", "rows", dropped)
		}
		if err := l.st.LogActivity(ctx, acts...); err != nil {
			l.log.Error("write activity log", "err", err, "rows", len(acts))
		}
		if err := l.st.LogDebug(ctx, debug...); err != nil {
			l.log.Error("write debug log", "err", err, "rows", len(debug))
		}
		if closed {
			return
		}
	}
}

func (l *asyncLog) wake() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *asyncLog) activity(a store.Activity) {
	l.add(func() { l.acts = append(l.acts, a) })
}

func (l *asyncLog) debugf(msg string) {
	l.add(func() { l.debug = append(l.debug, msg) })
}

// add queues a row with appendRow (called under l.mu) unless the log is
// closed or full, and wakes the writer.
func (l *asyncLog) add(appendRow func()) {
	l.mu.Lock()
	switch {
	case l.closed:
	case len(l.acts)+len(l.debug) >= logQueue:
		l.dropped++
	default:
		appendRow()
	}
	l.mu.Unlock()
	l.wake()
}

// close writes the pending rows and stops the writer.
func (l *asyncLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}
