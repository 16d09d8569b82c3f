//! The connections of a single-threaded readiness server (`server-nonblocking`, `server-select`,
//! `server-poll`, …), kept in a table indexed by file descriptor, with their idle deadlines.
//!
//! Readiness APIs answer in file descriptors ("fd 7 is readable"), so the natural key of a
//! connection is its fd. The kernel always hands out the *lowest* free descriptor, so the fds of
//! live connections are small and dense: a `Vec` indexed by fd is a perfect hash, and looking a
//! connection up costs one bounds check. A descriptor number is reused as soon as its socket is
//! closed, which is why [`Clients`] also gives every connection a serial number: a timer queued
//! for the old connection on fd 7 must not time out the new one.
//!
//! Deadlines are kept in a [`Deadlines`] table keyed by `(fd, serial)`: [`Clients::watch_deadline`]
//! after every event, [`Clients::next_deadline`] to bound the wait, [`Clients::next_timed_out`]
//! after it.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use http_core::{Config, Connection};

use crate::accept::{self, AcceptVerdict};
use crate::pump::{self, Interest};
use crate::stats;
use crate::timers::Deadlines;

/// One accepted connection: the socket, its HTTP state machine and a little bookkeeping.
#[derive(Debug)]
pub struct Client {
    /// The non-blocking socket.
    pub stream: TcpStream,
    /// The sans-I/O HTTP/1.1 connection.
    pub conn: Connection,
    /// The peer's address (for `--log`).
    pub peer: SocketAddr,
    /// `read` returned 0: never wait for readability again (a closed read side stays readable
    /// forever under level-triggered readiness; waiting for it would spin).
    pub peer_closed: bool,
    /// Which connection this is, unique for the life of the process (fds are reused).
    serial: u64,
}

impl Client {
    /// Prepare a freshly accepted socket: `O_NONBLOCK` (every readiness server needs it).
    /// `TCP_NODELAY` it already has: it inherits it from the listener (`listener::bind`).
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        config: &Arc<Config>,
        now: Instant,
    ) -> io::Result<Client> {
        // ANCHOR: set_nonblocking
        stream
            .set_nonblocking(true)
            .map_err(|e| io::Error::new(e.kind(), format!("O_NONBLOCK on {peer}: {e}")))?;
        // ANCHOR_END: set_nonblocking
        Ok(Client {
            stream,
            conn: Connection::new(Arc::clone(config), now),
            peer,
            peer_closed: false,
            serial: 0,
        })
    }

    /// The socket's file descriptor (the key in [`Clients`]).
    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Between requests: no response pending and no request started (or at most part of a
    /// request line). At shutdown such a keep-alive connection is closed at once; the others
    /// may finish their exchange within the grace period.
    pub fn is_idle(&self) -> bool {
        pump::is_idle(&self.conn)
    }

    /// Close the socket and count the connection. `politely` (a connection that finished
    /// normally): send our FIN first and discard unread input, so that a response is not destroyed
    /// by a reset (see [`pump::close_gracefully`]); a peer that reset the connection or an error
    /// gets no ceremony. Dropping the stream closes the descriptor.
    pub fn close(self, politely: bool) {
        if politely {
            pump::close_gracefully(&self.stream);
        }
        stats::connection_closed(self.conn.responses_sent());
    }

    /// What to wait for next ([`pump::interest`], minus reading once the peer has closed);
    /// `None` means the connection is finished: close it.
    pub fn interest(&self) -> Option<Interest> {
        pump::interest(&self.conn).map(|interest| Interest {
            read: interest.read && !self.peer_closed,
            write: interest.write,
        })
    }
}

/// What one round of `accept` on a non-blocking listener gave, its errors already sorted
/// ([`accept::classify`]).
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "lives for one match, then the client moves into the table; boxing it would cost an allocation per connection"
)]
pub enum Accepted {
    /// A new connection, set up as a [`Client`].
    Client(Client),
    /// Nothing is pending (`EAGAIN`): the round is over until the listener is ready again.
    Empty,
    /// Out of descriptors (`EMFILE`/`ENFILE`…): the connection stays queued, so the listener
    /// stays ready; stop accepting for [`accept::BACKOFF`] instead of spinning on it.
    Backoff,
}

// ANCHOR: accept_round
/// Accept the next connection from a non-blocking `listener`. Errors that concern one client
/// only (it gave up while queued, `EINTR`, a socket option refused) are passed over to the next
/// one; `Err` means the listener itself is broken.
pub fn accept(listener: &TcpListener, config: &Arc<Config>, now: Instant) -> io::Result<Accepted> {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => match Client::new(stream, peer, config, now) {
                Ok(client) => return Ok(Accepted::Client(client)),
                // The socket could not be set up; dropping it closes it. Keep serving.
                Err(err) => eprintln!("warning: {err}"),
            },
            Err(err) => match accept::classify(&err) {
                AcceptVerdict::WouldBlock => return Ok(Accepted::Empty),
                AcceptVerdict::Retry => {}
                AcceptVerdict::Backoff => return Ok(Accepted::Backoff),
                AcceptVerdict::Fatal => {
                    return Err(io::Error::new(err.kind(), format!("accept: {err}")));
                }
            },
        }
    }
}
// ANCHOR_END: accept_round

/// The live connections, indexed by file descriptor, and their deadlines.
#[derive(Debug, Default)]
pub struct Clients {
    slots: Vec<Option<Client>>,
    len: usize,
    deadlines: Deadlines<(RawFd, u64)>,
    next_serial: u64,
}

impl Clients {
    /// An empty table.
    pub fn new() -> Clients {
        Clients::default()
    }

    /// Add a connection (and queue its first deadline); returns its fd.
    pub fn insert(&mut self, mut client: Client) -> RawFd {
        let fd = client.fd();
        let index = slot_index(fd);
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        self.next_serial += 1;
        client.serial = self.next_serial;
        // A live socket's fd cannot be handed out twice, so the slot is empty.
        if self.slots[index].replace(client).is_none() {
            self.len += 1;
        }
        self.watch_deadline(fd);
        fd
    }

    /// The connection on `fd`, if any.
    pub fn get_mut(&mut self, fd: RawFd) -> Option<&mut Client> {
        self.slots.get_mut(slot_index(fd))?.as_mut()
    }

    /// Take the connection on `fd` out of the table (its queued deadline becomes stale).
    pub fn remove(&mut self, fd: RawFd) -> Option<Client> {
        let client = self.slots.get_mut(slot_index(fd))?.take()?;
        self.len -= 1;
        Some(client)
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no live connection.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The live connections, in fd order.
    pub fn iter(&self) -> impl Iterator<Item = &Client> + '_ {
        self.slots.iter().flatten()
    }

    /// Call after every event on `fd`: queue its deadline if it moved earlier than the one it
    /// has queued (see [`Deadlines::watch`]).
    pub fn watch_deadline(&mut self, fd: RawFd) {
        if let Some(client) = self.get_mut(fd) {
            let (key, deadline) = ((fd, client.serial), client.conn.deadline());
            self.deadlines.watch(key, deadline);
        }
    }

    /// The nearest queued deadline, for the loop's wait (`None`: no deadline at all).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next_deadline()
    }

    /// The next connection whose deadline has really passed at `now`; the caller calls
    /// `conn.handle_timeout(now)` on it. Stale entries (closed connections, another connection
    /// on a reused fd, deadlines that moved) are dropped or re-queued on the way.
    pub fn next_timed_out(&mut self, now: Instant) -> Option<RawFd> {
        let slots = &self.slots;
        let current = |(fd, serial): (RawFd, u64)| {
            let client = slots.get(slot_index(fd))?.as_ref()?;
            (client.serial == serial).then(|| client.conn.deadline())
        };
        self.deadlines.next_due(now, current).map(|(fd, _)| fd)
    }

    // ANCHOR: timers_time_out_due
    /// Time out every connection whose deadline has passed at `now` (`handle_timeout`: a
    /// `408` to write, or nothing more to say); returns their fds, for the loop to write to or
    /// close each.
    pub fn time_out_due(&mut self, now: Instant) -> Vec<RawFd> {
        let due: Vec<RawFd> = std::iter::from_fn(|| self.next_timed_out(now)).collect();
        for &fd in &due {
            if let Some(client) = self.get_mut(fd) {
                client.conn.handle_timeout(now);
            }
        }
        due
    }
    // ANCHOR_END: timers_time_out_due

    /// After I/O on `fd`: print what it answered (`log`: `--log`), then decide. `None`: close
    /// it (it is finished, or idle while a shutdown drains the server). Otherwise it stays, its
    /// deadline is watched, and what it waits for next is returned.
    pub fn after_io(&mut self, fd: RawFd, draining: bool, log: bool) -> Option<Interest> {
        let client = self.get_mut(fd)?;
        if log {
            stats::log_exchanges(client.peer, &mut client.conn);
        }
        let interest = client.interest()?;
        if draining && client.is_idle() {
            return None;
        }
        self.watch_deadline(fd);
        Some(interest)
    }

    /// The connections between requests ([`Client::is_idle`]): at shutdown they are closed at
    /// once.
    pub fn idle(&self) -> Vec<RawFd> {
        self.iter()
            .filter(|client| client.is_idle())
            .map(Client::fd)
            .collect()
    }
}

/// File descriptors of open sockets are never negative; a negative one maps past any slot.
fn slot_index(fd: RawFd) -> usize {
    usize::try_from(fd).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use std::time::Duration;

    use super::*;

    const IDLE: Duration = Duration::from_secs(1);

    fn config() -> Arc<Config> {
        let mut config = Config::new(std::env::temp_dir()).expect("temp dir as document root");
        config.limits.idle_timeout = IDLE;
        Arc::new(config)
    }

    /// A connected pair: the server's end as a [`Client`] accepted at `now`, and the peer.
    fn accept_pair(listener: &TcpListener, now: Instant) -> (Client, TcpStream) {
        let peer = TcpStream::connect(listener.local_addr().expect("listener address"))
            .expect("connect to the test listener");
        let (stream, addr) = listener.accept().expect("accept");
        let client = Client::new(stream, addr, &config(), now).expect("set up the socket");
        (client, peer)
    }

    fn listener() -> TcpListener {
        let options = crate::listener::ListenOptions {
            nonblocking: false,
            reuse_port: false,
        };
        crate::listener::bind(([127, 0, 0, 1], 0).into(), options).expect("bind a test listener")
    }

    #[test]
    fn lookup_by_fd_and_remove() {
        let listener = listener();
        let now = Instant::now();
        let mut clients = Clients::new();
        let (a, _peer_a) = accept_pair(&listener, now);
        let (b, _peer_b) = accept_pair(&listener, now);
        let (fd_a, fd_b) = (clients.insert(a), clients.insert(b));
        assert_eq!(clients.len(), 2);
        assert_eq!(clients.get_mut(fd_a).map(|c| c.fd()), Some(fd_a));
        assert_eq!(clients.remove(fd_b).map(|c| c.fd()), Some(fd_b));
        assert!(clients.get_mut(fd_b).is_none());
        assert!(clients.remove(fd_b).is_none());
        assert_eq!(clients.iter().map(Client::fd).collect::<Vec<_>>(), [fd_a]);
        assert!(clients.get_mut(-1).is_none());
        assert!(clients.get_mut(100_000).is_none());
        assert!(clients.iter().all(Client::is_idle));
        assert_eq!(clients.idle(), [fd_a]);
        if let Some(client) = clients.get_mut(fd_a) {
            client
                .conn
                .handle_input(b"GET / HTTP/1.1\r\n", Instant::now());
        }
        assert!(clients.idle().is_empty(), "in the middle of a request");
    }

    #[test]
    fn times_out_only_after_the_deadline() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        assert_eq!(clients.next_deadline(), Some(t0 + IDLE));
        assert_eq!(clients.next_timed_out(t0 + IDLE / 2), None);
        assert_eq!(clients.next_timed_out(t0 + IDLE), Some(fd));
        // Popped once: not reported again unless re-watched.
        assert_eq!(clients.next_timed_out(t0 + IDLE * 2), None);
    }

    #[test]
    fn time_out_due_lets_http_core_answer_408_to_a_started_request() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        if let Some(client) = clients.get_mut(fd) {
            client.conn.handle_input(b"GET / HTTP/1.1\r\n", t0);
            clients.watch_deadline(fd);
        }
        assert!(clients.time_out_due(t0 + IDLE / 2).is_empty());
        assert_eq!(clients.time_out_due(t0 + IDLE), [fd]);
        let client = clients.get_mut(fd).expect("still in the table");
        assert!(
            client.conn.next_output().starts_with(b"HTTP/1.1 408"),
            "timed out: {:?}",
            String::from_utf8_lossy(client.conn.next_output())
        );
    }

    #[test]
    fn progress_moves_the_deadline_later() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        let later = t0 + IDLE * 8 / 10;
        if let Some(client) = clients.get_mut(fd) {
            // Part of a request line: progress, so the idle deadline moves.
            client.conn.handle_input(b"GET / HT", later);
        }
        clients.watch_deadline(fd);
        // The old entry pops, is found stale and is re-queued for the new deadline.
        assert_eq!(clients.next_timed_out(t0 + IDLE + IDLE / 10), None);
        assert_eq!(clients.next_timed_out(later + IDLE), Some(fd));
    }

    #[test]
    fn a_reused_fd_does_not_inherit_the_old_deadline() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (first, _peer_first) = accept_pair(&listener, t0);
        let first_fd = clients.insert(first);
        drop(clients.remove(first_fd));
        let (second, _peer_second) = accept_pair(&listener, t0 + IDLE / 2);
        let fd = clients.insert(second);
        // Whether the kernel reused the number or not (tests run in parallel threads), make the
        // queue hold what the first connection would have left had it been on the same fd.
        let second_serial = clients
            .get_mut(fd)
            .map(|c| c.serial)
            .expect("just inserted");
        clients
            .deadlines
            .watch((fd, second_serial - 1), Some(t0 + IDLE));
        assert_eq!(clients.next_timed_out(t0 + IDLE + IDLE / 10), None);
        assert_eq!(clients.next_timed_out(t0 + IDLE / 2 + IDLE), Some(fd));
    }

    #[test]
    fn the_heap_holds_one_entry_per_connection_however_many_events() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        // Events without progress (the same deadline) and with progress (a later one): the
        // queued entry stays; a later deadline is found when it pops.
        for step in 0..10u32 {
            clients.watch_deadline(fd);
            if let Some(client) = clients.get_mut(fd) {
                client.conn.handle_input(b"G", t0 + IDLE * step / 20);
            }
            clients.watch_deadline(fd);
        }
        assert_eq!(clients.deadlines.len(), 1);
    }

    #[test]
    fn accept_sorts_what_the_listener_gives() {
        let listener = listener();
        listener.set_nonblocking(true).expect("O_NONBLOCK");
        let now = Instant::now();
        let config = config();
        assert!(matches!(
            accept(&listener, &config, now),
            Ok(Accepted::Empty)
        ));
        let _peer = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        // The handshake completes in the kernel; poll until the connection is queued.
        let client = (0..1000)
            .find_map(|_| match accept(&listener, &config, now) {
                Ok(Accepted::Client(client)) => Some(client),
                _ => {
                    std::thread::sleep(Duration::from_millis(1));
                    None
                }
            })
            .expect("the connection is accepted");
        assert_eq!(
            client.peer.ip(),
            std::net::Ipv4Addr::LOCALHOST,
            "peer address kept"
        );
        assert!(
            client.stream.nodelay().expect("TCP_NODELAY readable"),
            "set up as a client"
        );
        assert!(matches!(
            accept(&listener, &config, now),
            Ok(Accepted::Empty)
        ));
    }

    #[test]
    fn accept_on_a_socket_that_does_not_listen_is_an_error() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, socket};
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK,
            None,
        )
        .expect("socket");
        bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind");
        let not_listening = TcpListener::from(fd);
        let err = accept(&not_listening, &config(), Instant::now()).expect_err("EINVAL");
        assert!(err.to_string().starts_with("accept: "), "{err}");
    }

    #[test]
    fn after_io_keeps_a_live_connection_and_closes_a_finished_or_draining_one() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        let kept = clients
            .after_io(fd, false, false)
            .map(|i| (i.read, i.write));
        assert_eq!(kept, Some((true, false)), "waiting for a request");
        assert_eq!(
            clients.after_io(fd, true, false).map(|i| i.read),
            None,
            "idle while draining: close"
        );
        // In the middle of a request, a drain lets it finish.
        if let Some(client) = clients.get_mut(fd) {
            client.conn.handle_input(b"GET / HTTP/1.1\r\n", t0);
        }
        assert!(clients.after_io(fd, true, false).is_some(), "busy: kept");
        // A finished connection is closed whatever the drain.
        if let Some(client) = clients.get_mut(fd) {
            client.conn.handle_eof(t0);
            while !client.conn.next_output().is_empty() {
                let n = client.conn.next_output().len();
                client.conn.consume(n, t0);
            }
        }
        assert!(
            clients.after_io(fd, false, false).is_none(),
            "finished: close"
        );
        assert!(
            clients.after_io(-1, false, false).is_none(),
            "no such connection"
        );
    }

    #[test]
    fn after_io_watches_the_deadline_of_what_it_keeps() {
        let listener = listener();
        let t0 = Instant::now();
        let mut clients = Clients::new();
        let (client, _peer) = accept_pair(&listener, t0);
        let fd = clients.insert(client);
        // Forget what `insert` queued: only `after_io` can queue it again.
        clients.deadlines = Deadlines::new();
        clients.after_io(fd, false, false);
        assert_eq!(clients.deadlines.len(), 1);
        assert_eq!(clients.next_timed_out(t0 + IDLE), Some(fd));
    }

    #[test]
    fn idle_means_between_requests_with_nothing_to_send() {
        let listener = listener();
        let now = Instant::now();
        let (mut client, _peer) = accept_pair(&listener, now);
        assert!(client.is_idle(), "fresh");
        client.conn.handle_input(b"GET / HTTP/1.1\r\n", now);
        assert!(!client.is_idle(), "in the middle of a head");
        let (mut client, _peer) = accept_pair(&listener, now);
        client
            .conn
            .handle_input(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", now);
        assert!(!client.is_idle(), "a response waits to be written");
    }

    #[test]
    fn no_read_interest_once_the_peer_closed_or_the_connection_is_ending() {
        let listener = listener();
        let now = Instant::now();
        let (mut client, _peer) = accept_pair(&listener, now);
        assert_eq!(
            client.interest().map(|i| (i.read, i.write)),
            Some((true, false))
        );
        client.peer_closed = true;
        client
            .conn
            .handle_input(b"GET /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\n", now);
        assert_eq!(
            client.interest().map(|i| i.read),
            Some(false),
            "peer closed"
        );
        // A response that ends the connection: the peer is still open, but no more input is
        // wanted.
        let (mut client, _peer) = accept_pair(&listener, now);
        client.conn.handle_input(
            b"GET /bytes/100000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            now,
        );
        assert_eq!(
            client.interest().map(|i| (i.read, i.write)),
            Some((false, true))
        );
    }
}
