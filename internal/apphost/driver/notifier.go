package driver

import "sync"

// Notifier delivers state changes on a channel without ever blocking the
// driver that publishes them: it keeps the latest unsent state of each app
// (so a slow reader sees every app's latest state, not every step) and sends
// them in the order the apps changed. Drivers use it for Events.
type Notifier struct {
	mu      sync.Mutex
	pending map[string]State
	order   []string
	closed  bool
	wake    chan struct{}
	out     chan State
}

// NewNotifier starts a Notifier.
func NewNotifier() *Notifier {
	n := &Notifier{pending: map[string]State{}, wake: make(chan struct{}, 1), out: make(chan State)}
	go n.pump()
	return n
}

// C is the channel the states arrive on; it is closed after Close, once the
// states published before Close were taken.
func (n *Notifier) C() <-chan State { return n.out }

// Publish queues s, replacing an unsent state of the same app. Publishing
// after Close does nothing.
func (n *Notifier) Publish(s State) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	if _, queued := n.pending[s.Name]; !queued {
		n.order = append(n.order, s.Name)
	}
	n.pending[s.Name] = s
	n.mu.Unlock()
	n.poke()
}

// Close ends the Notifier: what was published is still delivered, then C is
// closed. It does not block.
func (n *Notifier) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.poke()
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) pump() {
	for {
		n.mu.Lock()
		if len(n.order) == 0 {
			closed := n.closed
			n.mu.Unlock()
			if closed {
				close(n.out)
				return
			}
			<-n.wake
			continue
		}
		name := n.order[0]
		n.order = n.order[1:]
		s := n.pending[name]
		delete(n.pending, name)
		n.mu.Unlock()
		n.out <- s
	}
}
