package host

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mrci/mrci/internal/store"
)

// asyncLog writes activity and debug log rows from one goroutine, so a
// connection never waits for the database to record that it came or went.
// When more than logQueue rows are pending, new rows are dropped and the
// loss is reported in the process log.
type asyncLog struct {
	st     store.Store
	log    *slog.Logger
	ch     chan func(context.Context) error
	done   chan struct{}
	mu     sync.RWMutex
	closed bool
}

const logQueue = 4096

func newAsyncLog(st store.Store, log *slog.Logger) *asyncLog {
	l := &asyncLog{st: st, log: log, ch: make(chan func(context.Context) error, logQueue), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *asyncLog) run() {
	defer close(l.done)
	ctx := context.Background()
	for f := range l.ch {
		if err := f(ctx); err != nil {
			l.log.Error("write log row", "err", err)
		}
	}
}

func (l *asyncLog) put(f func(context.Context) error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.ch <- f:
	default:
		l.log.Warn("log queue full; row dropped")
	}
}

func (l *asyncLog) activity(a store.Activity) {
	l.put(func(ctx context.Context) error { return l.st.LogActivity(ctx, a) })
}

func (l *asyncLog) debug(msg string) {
	l.put(func(ctx context.Context) error { return l.st.LogDebug(ctx, msg) })
}

// close flushes pending rows and stops the writer.
func (l *asyncLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
}
