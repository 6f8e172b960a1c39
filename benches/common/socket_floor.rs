//! The floor under a fan-out's CPU per delivery: writing one event-sized
//! message to a loopback TCP connection.
//!
//! A watch stream is an HTTP/2 stream, and h2 writes every DATA frame of
//! 256 bytes or more with a write of its own (its `CHAIN_THRESHOLD`; the
//! frame is handed to `writev` rather than copied into the connection's
//! buffer, one at a time). So every delivered event costs a server at
//! least one `writev` of the event's size, and on loopback the sender's
//! CPU also pays for the receiver's side of TCP. This measures that write
//! alone, in the same run as the figures set against it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// CPU (user + system) of the calling thread so far, from /proc (Linux).
fn thread_cpu() -> Duration {
    super::stat_cpu_time("/proc/thread-self/stat")
}

/// The sender's CPU per write of `size` bytes, `writes` of them spread
/// over `connections` loopback connections (each drained by a thread of
/// its own).
pub fn cpu_per_write(size: usize, connections: usize, writes: usize) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..connections {
        let sender = TcpStream::connect(addr)?;
        sender.set_nodelay(true)?;
        let (mut receiver, _) = listener.accept()?;
        readers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while matches!(receiver.read(&mut buf), Ok(n) if n > 0) {}
        }));
        senders.push(sender);
    }
    let message = vec![b'x'; size];
    let started = thread_cpu();
    for i in 0..writes {
        senders[i % connections].write_all(&message)?;
    }
    let used = thread_cpu().saturating_sub(started);
    drop(senders);
    for r in readers {
        let _ = r.join();
    }
    Ok(used / writes.max(1) as u32)
}
