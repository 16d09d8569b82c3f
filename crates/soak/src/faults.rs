//! Faulty clients, each in a loop until a deadline: what a server meets on the open internet.
//! Every socket has read and write timeouts, so no fault can hang the soak itself.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};

/// The kinds of fault, one thread each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Ask for a large file, read a little, then reset the connection (`SO_LINGER` 0).
    ResetMidResponse,
    /// Send half a request line, then close.
    HalfRequest,
    /// Send bytes that are not HTTP.
    Garbage,
    /// Announce a body and never send it (the connection stays open until the server's timeout).
    BodyNeverSent,
    /// Slowloris: a request head one byte at a time, never finished.
    Slowloris,
}

/// Every fault.
pub const ALL: [Fault; 5] = [
    Fault::ResetMidResponse,
    Fault::HalfRequest,
    Fault::Garbage,
    Fault::BodyNeverSent,
    Fault::Slowloris,
];

/// Sockets a fault may keep open at once (body never sent, slowloris).
const HELD: usize = 32;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Run every fault against `addr` until `until`; returns how many faulty exchanges were made
/// and the sockets still held open (the caller drops them after the server's timeout).
pub fn run_all(addr: SocketAddr, until: Instant) -> (u64, Vec<TcpStream>) {
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = ALL
        .iter()
        .map(|&fault| {
            let count = Arc::clone(&count);
            thread::spawn(move || run(fault, addr, until, &count))
        })
        .collect();
    let mut held = Vec::new();
    for thread in threads {
        if let Ok(sockets) = thread.join() {
            held.extend(sockets);
        }
    }
    (count.load(Ordering::Relaxed), held)
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    Some(stream)
}

fn run(fault: Fault, addr: SocketAddr, until: Instant, count: &AtomicU64) -> Vec<TcpStream> {
    let mut held: Vec<TcpStream> = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    while Instant::now() < until {
        let Some(mut stream) = connect(addr) else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        match fault {
            Fault::ResetMidResponse => {
                let _ = stream.write_all(b"GET /big.bin HTTP/1.1\r\nHost: soak\r\n\r\n");
                let mut buf = [0u8; 16 * 1024];
                let _ = stream.read(&mut buf);
                // A zero linger time turns close into a reset (RST) instead of a FIN.
                let _ = setsockopt(
                    &stream,
                    sockopt::Linger,
                    &libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                );
            }
            Fault::HalfRequest => {
                let _ = stream.write_all(b"GET /hello.txt HTT");
            }
            Fault::Garbage => {
                let mut junk = [0u8; 1024];
                for byte in &mut junk {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *byte = seed as u8;
                }
                let _ = stream.write_all(&junk);
                // The server answers 400 (or 501, 505) and closes; read until it does.
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            }
            Fault::BodyNeverSent => {
                let _ = stream.write_all(
                    b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\npartial",
                );
                hold(&mut held, stream);
            }
            Fault::Slowloris => {
                let _ = stream.write_all(b"GET /index.html HTTP/1.1\r\nHost: soak\r\nX-Slow: ");
                hold(&mut held, stream);
                // One more byte for every held head: progress, but never the end of a head.
                for stream in &mut held {
                    let _ = stream.write_all(b"z");
                }
                thread::sleep(Duration::from_millis(200));
            }
        }
        count.fetch_add(1, Ordering::Relaxed);
    }
    held
}

/// Keep `stream` open; past [`HELD`], the oldest is closed.
fn hold(held: &mut Vec<TcpStream>, stream: TcpStream) {
    if held.len() >= HELD {
        held.remove(0);
    }
    held.push(stream);
}
