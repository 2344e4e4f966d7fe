package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Errors of Queue.Submit.
var (
	// ErrQueueFull means the queue holds its limit of messages or bytes.
	ErrQueueFull = errors.New("mail: queue full")
	// ErrClosed means the queue was closed.
	ErrClosed = errors.New("mail: queue closed")
)

// Job is one message (or probe) to deliver.
type Job struct {
	Msg Message
	// Probe runs Transport.Probe instead of Send (see Transport).
	Probe bool
	// Retry retries transient failures after the first attempt, with
	// back-off, up to QueueOptions.Attempts attempts in all.
	Retry bool
	// GiveUp, if set, is called once when the job has finally failed
	// (after its last attempt, on a permanent error, or at Close).
	GiveUp func(err error)
	// Label names the job in logs (never the body: it holds secrets).
	Label string
}

// QueueOptions configure a Queue. Zero values take the defaults noted.
type QueueOptions struct {
	// Transport returns the transport for one attempt; it is called per
	// attempt so that changed settings apply to retries.
	Transport func(ctx context.Context) (Transport, error)
	MaxJobs   int           // messages queued or in flight (256)
	MaxBytes  int           // bytes queued or in flight (4 MiB)
	Workers   int           // concurrent deliveries (2)
	Attempts  int           // attempts per job including the first (5)
	Backoff   time.Duration // delay before the first retry, doubled after each (30 s)
	// MaxBackoff caps the delay between retries (30 min).
	MaxBackoff time.Duration
	// Log receives every failure (warn) and delivery (info).
	Log *slog.Logger
	// Debug, if set, receives a line for every failed attempt and every
	// job given up (the host's debug log).
	Debug func(msg string)
}

// Queue sends jobs off the caller's path: Submit returns at once with a
// Ticket that reports the first attempt's outcome, and failed jobs are
// retried in the background. It is bounded by jobs and bytes; a full queue
// refuses new jobs (the caller reports the failure) rather than growing.
type Queue struct {
	o      QueueOptions
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	waiting  []*pending
	jobs     int
	bytes    int
	inflight int
	closed   bool
	started  bool
	wake     chan struct{}
	wg       sync.WaitGroup
}

type pending struct {
	job     Job
	size    int
	attempt int // attempts made
	due     time.Time
	first   chan error // receives the first attempt's result
}

// Ticket follows one submitted job.
type Ticket struct{ first <-chan error }

// Wait returns the first attempt's result (nil: delivered), or ctx's
// error if that comes first; the job goes on either way.
func (t *Ticket) Wait(ctx context.Context) error {
	select {
	case err := <-t.first:
		return err
	case <-ctx.Done():
		return fmt.Errorf("mail: waiting for the first attempt: %w", ctx.Err())
	}
}

// NewQueue returns a queue; its goroutine starts with the first Submit.
func NewQueue(o QueueOptions) *Queue {
	if o.MaxJobs <= 0 {
		o.MaxJobs = 256
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 4 << 20
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{o: o, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1)}
}

// Submit queues a job. It never blocks.
func (q *Queue) Submit(j Job) (*Ticket, error) {
	p := &pending{job: j, size: j.Msg.Size(), first: make(chan error, 1)}
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return nil, ErrClosed
	case q.jobs+1 > q.o.MaxJobs || q.bytes+p.size > q.o.MaxBytes:
		q.failure(j, 0, ErrQueueFull)
		return nil, ErrQueueFull
	}
	q.jobs++
	q.bytes += p.size
	q.waiting = append(q.waiting, p)
	if !q.started {
		q.started = true
		q.wg.Add(1)
		go q.loop()
	}
	q.signal()
	return &Ticket{first: p.first}, nil
}

// Close stops the queue: deliveries in flight are cancelled and jobs
// waiting for a retry are given up.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.signal()
	q.wg.Wait()
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// loop starts due jobs while workers are free and sleeps until the next
// due time or a signal.
func (q *Queue) loop() {
	defer q.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.closed {
			rest := q.waiting
			q.waiting = nil
			q.mu.Unlock()
			for _, p := range rest {
				q.finish(p, ErrClosed)
			}
			return
		}
		now := time.Now()
		next := time.Duration(-1)
		for i := 0; i < len(q.waiting) && q.inflight < q.o.Workers; {
			p := q.waiting[i]
			if wait := p.due.Sub(now); wait > 0 {
				if next < 0 || wait < next {
					next = wait
				}
				i++
				continue
			}
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
			q.inflight++
			q.wg.Add(1)
			go q.attempt(p)
		}
		q.mu.Unlock()
		if next < 0 {
			next = time.Hour
		}
		timer.Reset(next)
		select {
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// attempt makes one delivery attempt and schedules a retry or finishes.
func (q *Queue) attempt(p *pending) {
	defer q.wg.Done()
	err := q.deliver(p)
	p.attempt++
	if p.attempt == 1 {
		p.first <- err
	}
	q.mu.Lock()
	q.inflight--
	retry := err != nil && p.job.Retry && !IsPermanent(err) && p.attempt < q.o.Attempts && !q.closed
	if retry {
		p.due = time.Now().Add(q.backoff(p.attempt))
		q.waiting = append(q.waiting, p)
	}
	q.mu.Unlock()
	switch {
	case err == nil:
		q.o.Log.Info("mail delivered", "job", p.job.Label, "attempt", p.attempt)
		q.finish(p, nil)
	case retry:
		q.failure(p.job, p.attempt, err)
		q.o.Log.Info("mail retry scheduled", "job", p.job.Label, "in", q.backoff(p.attempt))
	default:
		q.failure(p.job, p.attempt, err)
		q.finish(p, err)
	}
	q.signal()
}

func (q *Queue) deliver(p *pending) error {
	t, err := q.o.Transport(q.ctx)
	if err != nil {
		return Permanent(err)
	}
	if p.job.Probe {
		return t.Probe(q.ctx)
	}
	return t.Send(q.ctx, p.job.Msg)
}

// backoff is the delay after the n-th attempt: Backoff * 2^(n-1), capped.
func (q *Queue) backoff(n int) time.Duration {
	d := q.o.Backoff
	for i := 1; i < n && d < q.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.o.MaxBackoff)
}

// failure logs a failed attempt (attempt 0: refused before any attempt).
func (q *Queue) failure(j Job, attempt int, err error) {
	q.o.Log.Warn("mail attempt failed", "job", j.Label, "attempt", attempt, "of", q.o.Attempts, "err", err)
	if q.o.Debug != nil {
		q.o.Debug(fmt.Sprintf("mail: %s: attempt %d of %d failed: %v", j.Label, attempt, q.o.Attempts, err))
	}
}

// finish releases a job's share of the limits; a failed job is given up.
func (q *Queue) finish(p *pending, err error) {
	q.mu.Lock()
	q.jobs--
	q.bytes -= p.size
	q.mu.Unlock()
	if err == nil {
		return
	}
	if p.attempt == 0 {
		p.first <- err
	}
	if p.job.GiveUp != nil {
		p.job.GiveUp(err)
	}
	q.o.Log.Warn("mail given up", "job", p.job.Label, "attempts", p.attempt, "err", err)
	if q.o.Debug != nil {
		q.o.Debug(fmt.Sprintf("mail: %s: given up after %d attempt(s): %v", p.job.Label, p.attempt, err))
	}
}
